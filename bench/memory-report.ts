/**
 * The benches' `--memory` table: what memory-probe.cts recorded in a server at its peak RSS, by thread
 * (V8 heap by space, external memory) and for the process (anonymous and file-backed RSS, and the
 * anonymous memory no V8 heap accounts for: malloc arenas, SQLite page caches, gRPC and Node buffers).
 */
import { readFileSync } from 'node:fs';
import type { MemoryProbeReport } from './memory-probe.cjs';
import { num, table } from './report.js';

export function readMemoryReport(file: string): MemoryProbeReport | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as MemoryProbeReport;
  } catch {
    return undefined; // the server exited without writing it (killed): the caller says so
  }
}

const MIB = 2 ** 20;
const mib = (bytes: number) => num(bytes / MIB, 1);

export function formatMemoryReport(label: string, report: MemoryProbeReport): string[] {
  const { atPeak } = report;
  const isolates = [...atPeak.isolates].sort((a, b) => a.threadId - b.threadId);
  const space = (spaces: Readonly<Record<string, number>>, name: string) => spaces[name] ?? 0;
  const row = (name: string, s: MemoryProbeReport['threadPeaks'][number]) => {
    return [
      name,
      mib(s.heapPhysical),
      mib(space(s.spaces, 'new_space')),
      mib(space(s.spaces, 'old_space')),
      mib(space(s.spaces, 'code_space')),
      mib(space(s.spaces, 'large_object_space')),
      mib(s.heapUsed),
      mib(s.external),
      mib(s.arrayBuffers),
      mib(s.mallocedMemory),
    ];
  };
  const header = ['thread', 'V8 heap', 'new', 'old', 'code', 'large obj', 'used', 'external', 'arraybuf', 'V8 malloc'];
  const heaps = isolates.reduce((a, s) => a + s.heapPhysical, 0);
  const lines = [
    `${label}: memory at peak RSS (MiB; V8 heap = physical size, of which the main spaces; external includes arraybuf)`,
    ...table(header, isolates.map((s) => row(s.thread, s)), { indent: '  ' }),
    `  process: RSS ${mib(atPeak.rss)} = anonymous ${mib(atPeak.rssAnon)} + file-backed ${mib(atPeak.rssFile)} (code, mapped files); ` +
      `anonymous outside V8 heaps ${mib(atPeak.rssAnon - heaps)} (malloc: external buffers, SQLite caches, gRPC, V8's own)`,
    `${label}: each thread's own peaks over the run (not simultaneous)`,
    ...table(header, [...report.threadPeaks].sort((a, b) => a.threadId - b.threadId).map((s) => row(s.thread, s)), { indent: '  ' }),
  ];
  return lines;
}
