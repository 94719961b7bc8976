import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration and e2e tests start real servers; run files in parallel but keep it bounded on 2 cores.
    maxWorkers: 2,
  },
});
