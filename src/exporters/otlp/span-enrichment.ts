import type { Inventory } from '../../enrich/inventory.js';
import { attributeText, type Attributes } from '../../otlp/attributes.js';
import { KeySelector } from '../../otlp/key-selector.js';
import { Span } from '../../otlp/proto.js';
import { decodeStoredResource, decodeSpanFields } from '../../otlp/stored-span.js';
import type { StoredPart } from '../../store/forward-store.js';

/** The attributes forwarding adds: what the NHI inventory says about the span's actor. */
export const ENRICHMENT_KEYS = [
  'runledger.actor.id',
  'runledger.actor.type',
  'runledger.actor.owner',
  'runledger.actor.team',
  'runledger.actor.tier',
  'runledger.actor.registered',
] as const;

type EnrichmentValue = string | boolean;

const MAX_CACHED = 10_000;
const NOTHING = new Uint8Array(0);

/**
 * Enriches a span on its way out, as a Collector processor would: a span naming an actor (the
 * actor.id evidence keys, span first, then resource) gets `runledger.actor.*` from the inventory —
 * canonical id, type, owner, team, tier, or only `registered: false`. The attributes are appended to
 * the stored bytes (protobuf appends repeated fields), so the span is otherwise byte-identical, and a
 * key the sender set is never overwritten.
 */
export class SpanEnricher {
  private readonly selector: KeySelector;
  private readonly resourceActors = new Map<number, string | null>();
  /** Encoded attributes by inventory revision, actor and the keys the span already had. */
  private readonly encoded = new Map<string, Uint8Array>();

  constructor(
    private readonly actorKeys: readonly string[],
    private readonly inventory: () => Inventory | undefined,
  ) {
    this.selector = new KeySelector(new Set([...actorKeys, ...ENRICHMENT_KEYS]));
  }

  /** The span's bytes with the enrichment appended (the same bytes when there is nothing to add). */
  enrich(body: Uint8Array, resourceId: number, resource: StoredPart): Uint8Array {
    const inventory = this.inventory();
    if (inventory === undefined) return body;
    const { attributes } = decodeSpanFields(body, this.selector);
    const actor = this.actorOf(attributes) ?? this.resourceActor(resourceId, resource);
    if (actor === undefined) return body;
    const taken = ENRICHMENT_KEYS.filter((key) => attributes[key] !== undefined);
    const cacheKey = `${inventory.revision}\u0000${actor}\u0000${taken.join(',')}`;
    let extra = this.encoded.get(cacheKey);
    if (extra === undefined) {
      extra = encodeAttributes(actorAttributes(inventory, actor), new Set(taken));
      if (this.encoded.size >= MAX_CACHED) this.encoded.clear();
      this.encoded.set(cacheKey, extra);
    }
    if (extra.length === 0) return body;
    const out = new Uint8Array(body.length + extra.length);
    out.set(body, 0);
    out.set(extra, body.length);
    return out;
  }

  private actorOf(attributes: Attributes): string | undefined {
    for (const key of this.actorKeys) {
      const value = attributeText(attributes[key]);
      if (value !== undefined && value !== '') return value;
    }
    return undefined;
  }

  private resourceActor(resourceId: number, resource: StoredPart): string | undefined {
    let actor = this.resourceActors.get(resourceId);
    if (actor === undefined) {
      actor = this.actorOf(decodeStoredResource(resource.body)) ?? null;
      if (this.resourceActors.size >= MAX_CACHED) this.resourceActors.clear();
      this.resourceActors.set(resourceId, actor);
    }
    return actor ?? undefined;
  }
}

function actorAttributes(inventory: Inventory, actor: string): Record<(typeof ENRICHMENT_KEYS)[number], EnrichmentValue> | { 'runledger.actor.registered': false } {
  const match = inventory.resolve(actor);
  if (match === undefined) return { 'runledger.actor.registered': false };
  return {
    'runledger.actor.id': match.id,
    'runledger.actor.type': match.type,
    'runledger.actor.owner': match.owner,
    'runledger.actor.team': match.team,
    'runledger.actor.tier': match.tier,
    'runledger.actor.registered': true,
  };
}

/** The attributes as Span field 9 entries, without those the span already carries. */
function encodeAttributes(values: Readonly<Record<string, EnrichmentValue>>, taken: ReadonlySet<string>): Uint8Array {
  const attributes = Object.entries(values)
    .filter(([key]) => !taken.has(key))
    .map(([key, value]) => ({ key, value: typeof value === 'boolean' ? { boolValue: value } : { stringValue: value } }));
  return attributes.length === 0 ? NOTHING : Span.encode(Span.fromObject({ attributes })).finish();
}
