import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';
import SpreadSequencer from './test/support/sequencer.ts';

/**
 * Test files that add and remove network interfaces on the host (veth pairs into namespaces of
 * their own). Chromium aborts a navigation under way when the host's interfaces change
 * (net::ERR_NETWORK_CHANGED), so these never run beside a browser test.
 */
const HOST_NETWORK = ['test/server/broker/redis/partition.test.ts', 'test/deploy/impaired-link.test.ts'];

/**
 * Test files that drive Chromium (they import playwright-core; all are named *.e2e.test.ts):
 * found by reading the files, so a new browser test cannot end up beside HOST_NETWORK.
 */
const TEST_DIR = fileURLToPath(new URL('./test/', import.meta.url));
const BROWSER = readdirSync(TEST_DIR, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.test.ts') && /from ['"]playwright-core['"]/.test(readFileSync(TEST_DIR + f, 'utf8')))
  .map((f) => `test/${f.split('\\').join('/')}`)
  .filter((f) => !HOST_NETWORK.includes(f));

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Builds dist/hub/main.mjs once per run: the hubs tests spawn as processes run it.
    globalSetup: ['test/support/global-setup.ts'],
    // Longest files first, the short ones spread between them (test/support/sequencer.ts).
    sequence: { sequencer: SpreadSequencer },
    // Integration and e2e tests start real servers; run files in parallel but keep it bounded on
    // 2 cores: two Chromium files at a time keep both cores busy on their own.
    maxWorkers: 2,
    // Two groups, one after the other: the browser files first, then every other file together
    // with the host-network ones (which only Chromium minds), so neither waits for a tail of its own.
    // The second group runs three files at a time: its longest files mostly wait (drains,
    // restarts, token lifetimes, bar seconds), and with two workers the cores sat idle through
    // them (measured with vmstat: 5-50 % busy for half a minute, 137 s in all; 110 s with three).
    projects: [
      { extends: true, test: { name: 'browser', include: BROWSER, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...HOST_NETWORK, ...BROWSER], maxWorkers: 3, sequence: { groupOrder: 1 } } },
      // The same maxWorkers as 'main': projects of one group must agree on it.
      { extends: true, test: { name: 'host-network', include: HOST_NETWORK, maxWorkers: 3, sequence: { groupOrder: 1 } } },
    ],
  },
});
