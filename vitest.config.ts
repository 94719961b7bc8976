import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Test files that add and remove network interfaces on the host (veth pairs into namespaces of
 * their own). Chromium aborts a navigation under way when the host's interfaces change
 * (net::ERR_NETWORK_CHANGED), so these run after every other file, never beside a browser test.
 */
const HOST_NETWORK = ['test/server/broker/redis/partition.test.ts', 'test/deploy/impaired-link.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Builds dist/hub/main.mjs once per run: the hubs tests spawn as processes run it.
    globalSetup: ['test/support/global-setup.ts'],
    // Integration and e2e tests start real servers; run files in parallel but keep it bounded on 2 cores.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...HOST_NETWORK], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'host-network', include: HOST_NETWORK, sequence: { groupOrder: 1 } } },
    ],
  },
});
