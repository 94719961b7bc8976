/** Shared start-up for the peer servers: listen on PORT/HOST and say so on stdout. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on `PORT` (default 0) and `HOST` (default 127.0.0.1); resolves with the bound address. */
export function listenFromEnv(server: Server): Promise<AddressInfo> {
  const port = Number(process.env.PORT ?? 0);
  const host = process.env.HOST ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: 4096 }, () => resolve(server.address() as AddressInfo));
  });
}

/** Prints the readiness line the runner waits for, and exits cleanly on SIGTERM/SIGINT. */
export function announce(addr: AddressInfo): void {
  process.stdout.write(`listening ${addr.address}:${addr.port}\n`);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
}
