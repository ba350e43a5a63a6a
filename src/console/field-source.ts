import type { FieldKeys, FieldName } from '../evidence/fields.js';
import type { RunSpan } from '../evidence/run-input.js';
import { attributeText } from '../otlp/attributes.js';

/**
 * The span a run-level evidence field was read from, found as judging reads it: the root first, then
 * the other spans in history order; on each span its own attributes, then its resource. Steps keep
 * only step fields (decision, change, tool), so fields like run.workflow are found here.
 */
export function createFieldSource(spans: readonly RunSpan[], rootSpanId: string | null, keys: FieldKeys): (field: string, value: string) => string | undefined {
  const root = spans.find((s) => s.spanId === rootSpanId);
  const ordered = root === undefined ? spans : [root, ...spans.filter((s) => s !== root)];
  return (field, value) => {
    const fieldKeys = keys[field as FieldName];
    if (fieldKeys === undefined) return undefined;
    for (const span of ordered) {
      for (const key of fieldKeys) {
        const text = attributeText(span.attributes[key]) ?? attributeText(span.resource[key]);
        if (text !== undefined) {
          if (text === value) return span.spanId;
          break; // this span's first key decides what it says for the field
        }
      }
    }
    return undefined;
  };
}
