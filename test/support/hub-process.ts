/**
 * A hub as a child process (the bundle `npm run build:hub` makes, as production runs it, or
 * `server/main.ts` under tsx), for tests that need signals, kill -9 or a fresh process: started
 * on a free port, resolved once it logs "tickhub listening". The bundle is rebuilt from the
 * sources by the suite's global setup (test/support/global-setup.ts) before any test runs, so it
 * is the code under test; it starts in about a sixth of the time the sources under tsx take.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis-server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface SpawnOptions {
  /** A command that execs the hub, e.g. `['ip', 'netns', 'exec', ns]`. */
  wrap?: string[];
  /** `bundle` (the default): dist/hub/main.mjs, as production runs it; `source`: server/main.ts under tsx. */
  entry?: 'source' | 'bundle';
}

export const BUNDLE = path.join(ROOT, 'dist/hub/main.mjs');

export interface HubProcess {
  proc: ChildProcess;
  port: number;
  wsUrl: string;
}

/**
 * Start a hub with `env` (on top of the test's environment); `children` collects it so the
 * test's afterAll can kill what is left. `env.PORT` restarts a node on the port it had (a
 * balancer's fixed address); without it the hub gets a free port (free in the test's namespace).
 *
 * @example
 * const { proc, wsUrl } = await spawnHub({ REDIS_URL: redis.url }, children);
 */
export async function spawnHub(env: Record<string, string>, children: ChildProcess[], { wrap = [], entry = 'bundle' }: SpawnOptions = {}): Promise<HubProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const hub = entry === 'bundle' ? ['--enable-source-maps', BUNDLE] : ['--import', 'tsx', 'server/main.ts'];
  const command = [...wrap, process.execPath, ...hub];
  const proc = spawn(command[0], command.slice(1), {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not start within 45 s: ${out}`)), 45_000);
    const onData = (d: Buffer) => {
      out += String(d);
      if (out.includes('tickhub listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`hub exited ${code}: ${out}`)));
  });
  return { proc, port, wsUrl: `ws://${env.HOST ?? '127.0.0.1'}:${port}/ws` };
}
