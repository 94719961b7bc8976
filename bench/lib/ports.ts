/** Port helpers. */
import { createServer, connect } from 'node:net';
import { sleep } from './clock.ts';

/** A currently free TCP port on 127.0.0.1 (picked by the kernel). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True if a TCP connection to host:port succeeds. */
export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Polls until host:port accepts connections, `alive()` turns false, or `timeoutMs` passes. */
export async function waitForPort(host: string, port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('process exited before listening');
    if (await canConnect(host, port)) return;
    await sleep(20); // the storm times its resume from here: a coarse poll would shorten it
  }
  throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
}
