/**
 * `npm run build:hub` (part of `npm run build`): the hub and its dependencies bundled into one
 * file, dist/hub/main.mjs, with the Redis broker's Lua scripts beside it. `node
 * dist/hub/main.mjs` starts in about a sixth of the CPU time `tsx server/main.ts` spends
 * compiling and resolving hundreds of source files, so a restarted hub listens again sooner and
 * its clients' backoff has grown less (docs/operations.md, Restarts).
 */
import { cpSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = `${root}/dist/hub`;

rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: [`${root}/server/main.ts`],
  outfile: `${out}/main.mjs`,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  logLevel: 'warning',
  // ws loads these native helpers only if they are installed; leave them to node's resolver.
  external: ['bufferutil', 'utf-8-validate'],
  // Bundled CommonJS packages call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as __hubRequire } from 'node:module'; const require = __hubRequire(import.meta.url);" },
});
// server/broker/redis/scripts.ts reads them from ./scripts/ beside the module that runs.
cpSync(`${root}/server/broker/redis/scripts`, `${out}/scripts`, { recursive: true });
process.stdout.write(`built ${out}/main.mjs\n`);
