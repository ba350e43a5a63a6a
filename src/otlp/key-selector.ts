/**
 * The span attributes intake decodes. Routing reads a handful of keys (run identity, filter rules);
 * every attribute stays in the span's bytes for evaluation, so decoding the rest on the thread that
 * answers OTLP requests was wasted (it was a quarter of that thread's time). Tells from a KeyValue's
 * encoded key whether it is wanted, without decoding it into a string. Build one and keep it.
 */
export class KeySelector {
  private readonly byLength = new Map<number, Buffer[]>();

  constructor(readonly keys: ReadonlySet<string>) {
    for (const key of keys) {
      const bytes = Buffer.from(key, 'utf8');
      const same = this.byLength.get(bytes.length);
      if (same === undefined) this.byLength.set(bytes.length, [bytes]);
      else same.push(bytes);
    }
  }

  /** False only when the KeyValue in bytes[start, end) certainly has none of the keys. */
  mayAccept(bytes: Uint8Array, start: number, end: number): boolean {
    // Encoders write the key (field 1) first; anything else is left to the decode to judge.
    if (end - start < 2 || bytes[start] !== 0x0a || bytes[start + 1]! >= 0x80) return true;
    const length = bytes[start + 1]!;
    const candidates = this.byLength.get(length);
    if (candidates === undefined) return false;
    const keyStart = start + 2;
    next: for (const candidate of candidates) {
      for (let i = 0; i < length; i++) if (candidate[i] !== bytes[keyStart + i]) continue next;
      return true;
    }
    return false;
  }
}
