import { Long } from './proto.js';

export type AttributeValue = string | number | boolean | Uint8Array | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

/** Decoded protobufjs shapes of opentelemetry.proto.common.v1 (only what we read). */
export interface AnyValueMessage {
  /** protobufjs virtual oneof: the name of the member that is set. */
  value?: 'stringValue' | 'boolValue' | 'intValue' | 'doubleValue' | 'arrayValue' | 'kvlistValue' | 'bytesValue';
  stringValue?: string;
  boolValue?: boolean;
  intValue?: Long | number;
  doubleValue?: number;
  arrayValue?: { values?: AnyValueMessage[] };
  kvlistValue?: { values?: KeyValueMessage[] };
  bytesValue?: Uint8Array;
}
export interface KeyValueMessage {
  key: string;
  value?: AnyValueMessage | null;
}

export function toAttributes(list: readonly KeyValueMessage[] | undefined): Attributes {
  const out: Attributes = {};
  if (list === undefined) return out;
  for (const kv of list) {
    const value = kv.value == null ? undefined : toValue(kv.value);
    if (value !== undefined) out[kv.key] = value;
  }
  return out;
}

function toValue(v: AnyValueMessage): AttributeValue | undefined {
  // protobufjs puts each oneof member's default ('' / false / 0) on the prototype: only the
  // virtual oneof property `value` says which member is actually set.
  switch (v.value) {
    case 'stringValue':
      return v.stringValue;
    case 'boolValue':
      return v.boolValue;
    case 'intValue':
      return intToValue(v.intValue!);
    case 'doubleValue':
      return v.doubleValue;
    case 'arrayValue':
      return (v.arrayValue!.values ?? []).map((x) => toValue(x)).filter((x): x is AttributeValue => x !== undefined);
    case 'kvlistValue':
      return toAttributes(v.kvlistValue!.values);
    case 'bytesValue':
      return v.bytesValue;
    default:
      return undefined;
  }
}

/** int64 attribute: a number when exact, else its decimal string (nothing is silently rounded). */
function intToValue(value: Long | number): number | string {
  if (typeof value === 'number') return value;
  const n = value.toNumber();
  return Number.isSafeInteger(n) ? n : value.toString();
}

/** The attribute as a string when it is a scalar, for evidence fields and filters. */
export function attributeText(value: AttributeValue | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** The first non-empty text among `keys`, looked up in each source in turn. */
export function firstText(keys: readonly string[], ...sources: Attributes[]): string | undefined {
  for (const attrs of sources) {
    for (const key of keys) {
      const text = attributeText(attrs[key]);
      if (text !== undefined && text !== '') return text;
    }
  }
  return undefined;
}
