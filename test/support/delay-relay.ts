/**
 * A TCP relay that adds latency in userspace, for a kernel without `sch_netem` (tc netem): each
 * chunk read from one side is written to the other `delayMs` later, in order, in both
 * directions. Beyond `windowBytes` held per direction the reading side is paused (the bound is
 * loose by up to one read, which can be 64 KiB), so the relay never buffers without limit and
 * throughput is bounded by about (window + one read) / delay; the kernel's socket buffers in
 * front of a paused relay still fill first.
 */
import net from 'node:net';

export interface DelayRelayOptions {
  /** Where every accepted connection is relayed to. */
  host: string;
  port: number;
  /** Source address of the relay's connections to `host` (to tell them apart, e.g. for a firewall rule). */
  localAddress?: string;
  delayMs: number;
  windowBytes: number;
}

export interface DelayRelay {
  /** Listens on 127.0.0.1. */
  port: number;
  stop(): Promise<void>;
}

/** Write what `from` sends to `to`, `delayMs` later; pause `from` while more than `windowBytes` are held. */
function delayedPipe(from: net.Socket, to: net.Socket, delayMs: number, windowBytes: number): void {
  let held = 0;
  from.on('data', (chunk: Buffer) => {
    held += chunk.length;
    if (held > windowBytes) from.pause();
    setTimeout(() => {
      held -= chunk.length;
      if (!to.destroyed) to.write(chunk);
      if (from.isPaused() && held <= windowBytes) from.resume();
    }, delayMs);
  });
  // A FIN or a reset reaches the other side after the data before it.
  from.on('end', () => setTimeout(() => to.end(), delayMs));
  from.on('close', () => setTimeout(() => to.destroy(), delayMs + 1));
  from.on('error', () => {});
}

/**
 * @example
 * const relay = await startDelayRelay({ host: '10.213.8.2', port: hub.port, delayMs: 200, windowBytes: 64 * 1024 });
 * new WebSocket(`ws://127.0.0.1:${relay.port}/ws/orders`);
 */
export async function startDelayRelay(options: DelayRelayOptions): Promise<DelayRelay> {
  const { host, port, localAddress, delayMs, windowBytes } = options;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host, port, localAddress });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    }
    delayedPipe(client, upstream, delayMs, windowBytes);
    delayedPipe(upstream, client, delayMs, windowBytes);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
