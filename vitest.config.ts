import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Hang guards, not speed claims: on a busy 2-core CI machine an e2e test that starts processes can
    // take minutes without anything being wrong (see test/support/patience.ts).
    testTimeout: 300_000,
    // Two files at a time even on 2 cores (vitest's default is cores - 1): most e2e time is spent
    // waiting on the processes a test starts, and one worker left the second core mostly idle.
    maxWorkers: 2,
    hookTimeout: 300_000,
    // CI reads the JSON report to print its "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
