/**
 * Vitest global setup: build the hub bundle (`scripts/build-hub.ts`, what `npm run build:hub`
 * runs) from the sources under test, once per run, before any test file starts. Hubs the tests
 * start as child processes (test/support/hub-process.ts) run that bundle, as production does
 * (docs/operations.md): it starts in a fraction of the time `tsx server/main.ts` spends compiling,
 * and since it is rebuilt here it is never older than the sources.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Set in the main vitest process once built: each project runs its global setup, the build happens once. */
const BUILT = 'TICKHUB_TEST_BUNDLE_BUILT_AT';

declare module 'vitest' {
  export interface ProvidedContext {
    /** When this run's global setup finished writing dist/hub (ms since the epoch). */
    hubBundleBuiltAt: number;
  }
}

export default function setup(project: TestProject): void {
  if (!process.env[BUILT]) {
    const started = Date.now();
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build-hub.ts'], { cwd: ROOT, stdio: 'pipe' });
    process.env[BUILT] = String(started);
  }
  project.provide('hubBundleBuiltAt', Number(process.env[BUILT]));
}
