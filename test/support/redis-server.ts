/**
 * A private `redis-server` per test file: free port, no persistence, killed (or restarted on the
 * same port) by the test. Never the machine's shared Redis on 6379.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';

const CANDIDATES = [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server'];

/** Path of redis-server, or a loud error saying how to get it (tests must not skip). */
export function redisServerPath(): string {
  for (const c of CANDIDATES) if (c && existsSync(c)) return c;
  throw new Error(
    'redis-server not found (looked at $REDIS_SERVER, /usr/bin, /usr/local/bin). The Redis broker tests need it: ' +
      'run `bash scripts/test-setup.sh` as root (installs it with apt-get) or `sudo apt-get install redis-server`.',
  );
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export class TestRedis {
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Start a fresh redis-server on a free port and wait until it answers PING. */
  static async start(): Promise<TestRedis> {
    const redis = new TestRedis(await freePort());
    await redis.spawn();
    return redis;
  }

  private async spawn(): Promise<void> {
    const bin = redisServerPath();
    const proc = spawn(bin, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += String(d)));
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${stderr}`);
      if (await ping(this.port)) return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not answer PING within 10 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** kill -9: Redis loses everything (no persistence). */
  async kill(): Promise<void> {
    if (!this.proc) return;
    this.proc.kill('SIGKILL');
    await this.exited;
    this.proc = null;
  }

  /** kill -9 and start again on the same port, empty. */
  async restart(downMs = 0): Promise<void> {
    await this.kill();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.spawn();
  }

  /** Run one command with redis-cli-like raw RESP (for CLIENT KILL and the like in tests). */
  async command(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port, '127.0.0.1');
      let out = '';
      socket.on('data', (d) => {
        out += String(d);
        socket.end();
      });
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}

/** True if a Redis at `host:port` answers PING within 500 ms. */
export function ping(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('data', (d) => done(String(d).startsWith('+PONG')));
    socket.on('error', () => done(false));
    socket.write('PING\r\n');
  });
}
