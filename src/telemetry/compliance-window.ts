/**
 * Compliant ÷ evaluated run revisions per workflow over a sliding window, kept in one-minute buckets
 * so memory is bounded by workflows × window minutes, whatever the run rate.
 */
export class ComplianceWindow {
  private readonly buckets = new Map<string, Map<number, { compliant: number; total: number }>>();

  constructor(private readonly windowMinutes: number) {}

  record(workflow: string, compliant: boolean, atMs: number): void {
    const minute = Math.floor(atMs / 60_000);
    let byMinute = this.buckets.get(workflow);
    if (byMinute === undefined) {
      byMinute = new Map();
      this.buckets.set(workflow, byMinute);
    }
    const bucket = byMinute.get(minute) ?? { compliant: 0, total: 0 };
    bucket.total++;
    if (compliant) bucket.compliant++;
    byMinute.set(minute, bucket);
  }

  /** Ratio per workflow with at least one run in the window; expired buckets are dropped. */
  ratios(nowMs: number): Map<string, number> {
    const oldest = Math.floor(nowMs / 60_000) - this.windowMinutes + 1;
    const out = new Map<string, number>();
    for (const [workflow, byMinute] of this.buckets) {
      let compliant = 0;
      let total = 0;
      for (const [minute, bucket] of byMinute) {
        if (minute < oldest) {
          byMinute.delete(minute);
          continue;
        }
        compliant += bucket.compliant;
        total += bucket.total;
      }
      if (total === 0) this.buckets.delete(workflow);
      else out.set(workflow, compliant / total);
    }
    return out;
  }
}
