import { Resource } from './proto.js';

/**
 * Adds string attributes to an encoded Resource without decoding it: protobuf merges concatenated
 * encodings, appending repeated fields, so the result is the Resource with these attributes added.
 */
export function appendResourceAttributes(body: Uint8Array, attributes: Readonly<Record<string, string>>): Uint8Array {
  const entries = Object.entries(attributes);
  if (entries.length === 0) return body;
  const extra = Resource.encode(
    Resource.fromObject({ attributes: entries.map(([key, value]) => ({ key, value: { stringValue: value } })) }),
  ).finish();
  return Buffer.concat([body, extra]);
}
