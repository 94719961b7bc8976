/**
 * Hubs a test starts and that close after it: `hub()` starts one with the file's defaults (and
 * the test's overrides); `cleanups` takes anything else to undo after each test, newest first.
 *
 * @example
 * const { hub, cleanups } = perTestHubs({ publishKey: KEY });
 * const running = await hub({ maxPayload: 1024 });
 */
import { afterEach } from 'vitest';
import { testConfig, type HubConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';

export function perTestHubs(defaults: Partial<HubConfig> = {}): { hub: (overrides?: Partial<HubConfig>) => Promise<RunningHub>; cleanups: Array<() => unknown> } {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });
  const hub = async (overrides: Partial<HubConfig> = {}): Promise<RunningHub> => {
    const running = await startHub(testConfig({ ...defaults, ...overrides }));
    cleanups.push(() => running.close());
    return running;
  };
  return { hub, cleanups };
}
