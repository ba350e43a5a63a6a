import type { IntakeResource } from '../../otlp/intake-request.js';
import { appendResourceAttributes } from '../../otlp/resource-attributes.js';
import type { SpanBatch } from '../../pipeline/span-batch.js';
import type { SpanSink } from '../../pipeline/span-sink.js';

/**
 * Sidecar pod identity (downward API) as resource attributes on every stored span. Attributes the
 * sender already set win: an upstream k8sattributes processor knows the workload better than we do.
 */
export class PodIdentityStage implements SpanSink {
  constructor(
    private readonly attributes: Readonly<Record<string, string>>,
    private readonly next: SpanSink,
  ) {}

  consume(batch: SpanBatch): Promise<void> {
    if (Object.keys(this.attributes).length === 0) return this.next.consume(batch);
    const enriched = new Map<IntakeResource, IntakeResource>();
    const withPod = (resource: IntakeResource): IntakeResource => {
      let out = enriched.get(resource);
      if (out === undefined) {
        const missing = Object.fromEntries(Object.entries(this.attributes).filter(([k]) => resource.attributes[k] === undefined));
        out = {
          ...resource,
          body: appendResourceAttributes(resource.body, missing),
          attributes: { ...missing, ...resource.attributes },
        };
        enriched.set(resource, out);
      }
      return out;
    };
    return this.next.consume({ ...batch, spans: batch.spans.map((s) => ({ ...s, resource: withPod(s.resource) })) });
  }
}
