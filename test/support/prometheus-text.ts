/** One sample of the Prometheus text exposition format (0.0.4). */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A parsed scrape: every sample, with lookups that fail loudly instead of defaulting. */
export class Exposition {
  constructor(
    readonly samples: readonly Sample[],
    /** `# TYPE` lines: metric family name → type. */
    readonly types: ReadonlyMap<string, string>,
  ) {}

  /** Samples of `name` whose labels include `labels` (exactly these values, other labels free). */
  matching(name: string, labels: Readonly<Record<string, string>> = {}): Sample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** The value of the one sample with exactly these labels; undefined when the series is absent. */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
    const wanted = Object.keys(labels).length;
    const found = this.matching(name, labels).filter((s) => Object.keys(s.labels).length === wanted);
    if (found.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${found.length} samples`);
    return found[0]?.value;
  }

  /** Sum over the samples of `name` matching `labels`. */
  sum(name: string, labels: Readonly<Record<string, string>> = {}): number {
    return this.matching(name, labels).reduce((total, s) => total + s.value, 0);
  }

  /** `{labels → value}` for every sample of `name`, labels rendered `k=v,k=v` in key order (for toEqual). */
  series(name: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.matching(name)) {
      const key = Object.keys(s.labels)
        .sort()
        .map((k) => `${k}=${s.labels[k]}`)
        .join(',');
      out[key] = s.value;
    }
    return out;
  }
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

/** Parses Prometheus text exposition; throws on a line it does not understand. */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type !== null) types.set(type[1]!, type[2]!);
      continue;
    }
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`not a Prometheus sample line: ${line}`);
    samples.push({ name: match[1]!, labels: parseLabels(match[2] ?? '', line), value: parseValue(match[3]!) });
  }
  return new Exposition(samples, types);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const match = LABEL.exec(text);
    if (match === null || match.index !== at) throw new Error(`bad labels in: ${line}`);
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    if (match[3] === '') break;
  }
  return labels;
}

export function parseValue(text: string): number {
  // Prometheus parses values with Go's ParseFloat: Inf and NaN in any case (prom-client writes "Nan").
  const special = text.toLowerCase();
  if (special === '+inf' || special === 'inf') return Infinity;
  if (special === '-inf') return -Infinity;
  if (special === 'nan') return NaN;
  const value = Number(text);
  if (Number.isNaN(value)) throw new Error(`bad sample value: ${text}`);
  return value;
}

/** GET /metrics and parse it; checks the status and content type. */
export async function scrape(httpUrl: string): Promise<Exposition> {
  const response = await fetch(`${httpUrl}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain')) throw new Error(`GET /metrics content-type ${type}`);
  return parseExposition(await response.text());
}
