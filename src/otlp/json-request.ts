/**
 * OTLP/JSON (the OTLP specification's "JSON Protobuf Encoding"): an ExportTraceServiceRequest as JSON
 * becomes the same protobuf encoding a protobuf client would have sent, so both encodings go through
 * one decode path and spans are stored as their exact protobuf bytes either way.
 *
 * Differences from the standard proto3 JSON mapping, as OTLP specifies them: trace and span ids are
 * hex strings (not base64); keys are lowerCamelCase; enums are integers (names are accepted too,
 * which protobufjs does for free); unknown keys are ignored. 64-bit integers may be numbers or
 * decimal strings.
 */
import { ExportTraceServiceRequest } from './proto.js';

type JsonObject = Record<string, unknown>;

/** Encodes an OTLP/JSON request body as protobuf; throws an Error naming the offending field when malformed. */
export function otlpJsonToProtobuf(body: Uint8Array): Uint8Array {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`body is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(parsed)) throw new Error('body must be a JSON object');
  forEachObject(parsed, 'resourceSpans', 'resourceSpans', (rs, rsPath) =>
    forEachObject(rs, 'scopeSpans', `${rsPath}.scopeSpans`, (ss, ssPath) =>
      forEachObject(ss, 'spans', `${ssPath}.spans`, (span, path) => {
        hexToBytes(span, 'traceId', path);
        hexToBytes(span, 'spanId', path);
        hexToBytes(span, 'parentSpanId', path);
        checkNanos(span, 'startTimeUnixNano', path);
        checkNanos(span, 'endTimeUnixNano', path);
        forEachObject(span, 'links', `${path}.links`, (link, linkPath) => {
          hexToBytes(link, 'traceId', linkPath);
          hexToBytes(link, 'spanId', linkPath);
        });
      }),
    ),
  );
  // fromObject throws (naming the field) when a value has the wrong shape, e.g. a string for a list.
  return ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(parsed)).finish();
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Calls `visit` for each element of the list `parent[key]` (absent or null: none). */
function forEachObject(parent: JsonObject, key: string, path: string, visit: (item: JsonObject, path: string) => void): void {
  const list = parent[key];
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) throw new Error(`${path} must be a list`);
  list.forEach((item, i) => {
    if (!isObject(item)) throw new Error(`${path}[${i}] must be an object`);
    visit(item, `${path}[${i}]`);
  });
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * Replaces a hex id by its bytes. A well-formed hex string of the wrong length is kept (as bytes), so
 * the span is rejected on its own with partial_success exactly as on the protobuf path.
 */
function hexToBytes(message: JsonObject, key: string, path: string): void {
  const value = message[key];
  if (value === undefined || value === null) return;
  if (typeof value !== 'string' || !HEX.test(value)) throw new Error(`${path}.${key} must be a hex string`);
  message[key] = Buffer.from(value, 'hex');
}

const DECIMAL = /^\d{1,20}$/;
const MAX_UINT64 = (1n << 64n) - 1n;

/** protobufjs reads any string as a 64-bit integer (`"abc"` becomes 0): a timestamp must be one. */
function checkNanos(message: JsonObject, key: string, path: string): void {
  const value = message[key];
  if (value === undefined || value === null) return;
  const valid = typeof value === 'number' ? Number.isSafeInteger(value) && value >= 0 : typeof value === 'string' && DECIMAL.test(value) && BigInt(value) <= MAX_UINT64;
  if (!valid) throw new Error(`${path}.${key} must be an unsigned integer (a decimal string or a number)`);
}
