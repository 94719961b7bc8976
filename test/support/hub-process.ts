/**
 * A hub as a child process (`server/main.ts`), for tests that need signals, kill -9 or a fresh
 * process: started on a free port, resolved once it logs "tickhub listening".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis-server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface HubProcess {
  proc: ChildProcess;
  port: number;
  wsUrl: string;
}

/**
 * Start a hub with `env` (on top of the test's environment); `children` collects it so the
 * test's afterAll can kill what is left.
 *
 * @example
 * const { proc, wsUrl } = await spawnHub({ REDIS_URL: redis.url }, children);
 */
export async function spawnHub(env: Record<string, string>, children: ChildProcess[]): Promise<HubProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    // Generous: on a machine shared by many test runs, starting tsx alone has taken over 20 s.
    const timer = setTimeout(() => reject(new Error(`hub did not start: ${out}`)), 45_000);
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
  return { proc, port, wsUrl: `ws://127.0.0.1:${port}/ws` };
}
