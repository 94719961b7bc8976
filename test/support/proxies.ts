/**
 * Real nginx and HAProxy processes for the deploy tests: the configs in deploy/ exactly as the
 * docs show them, with only the placeholder node addresses and listen port replaced, run in the
 * foreground on a free port from a temp dir (never the system services). Missing binaries fail
 * loudly with what to install; tests do not skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis-server.ts';
import { until } from './until.ts';
import net from 'node:net';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The placeholder node addresses both deploy configs use (see their header comments). */
export const NODE_PLACEHOLDERS = ['10.0.0.11:5000', '10.0.0.12:5000', '10.0.0.13:5000'] as const;

export type ProxyKind = 'nginx' | 'haproxy';

const FILES: Record<ProxyKind, { file: string; listen: string; bind: (port: number) => string; bins: string[]; pkg: string; env: string }> = {
  nginx: { file: 'deploy/nginx.conf', listen: 'listen 8080;', bind: (p) => `listen 127.0.0.1:${p};`, bins: ['/usr/sbin/nginx', '/usr/bin/nginx'], pkg: 'nginx', env: 'NGINX_PATH' },
  haproxy: { file: 'deploy/haproxy.cfg', listen: 'bind :8080', bind: (p) => `bind 127.0.0.1:${p}`, bins: ['/usr/sbin/haproxy', '/usr/bin/haproxy'], pkg: 'haproxy', env: 'HAPROXY_PATH' },
};

/** The deploy file's text, byte for byte (what docs/operations.md must show). */
export function deployFile(kind: ProxyKind): string {
  return readFileSync(path.join(ROOT, FILES[kind].file), 'utf8');
}

/** Path of the proxy binary, or a loud error saying how to get it. */
export function proxyPath(kind: ProxyKind): string {
  const f = FILES[kind];
  for (const c of [process.env[f.env], ...f.bins]) if (c && existsSync(c)) return c;
  throw new Error(
    `${kind} not found (looked at $${f.env}, ${f.bins.join(', ')}). The deploy tests run the documented ${f.file}: ` +
      `run \`bash scripts/test-setup.sh\` as root (installs it with apt-get) or \`sudo apt-get install ${f.pkg}\`.`,
  );
}

/**
 * Replace one exact string that must occur exactly once outside comments (the header comment
 * names the placeholders), so a changed file fails loudly here.
 */
function replaceOnce(text: string, from: string, to: string, file: string): string {
  let n = 0;
  const lines = text.split('\n').map((line) => {
    if (line.trimStart().startsWith('#') || !line.includes(from)) return line;
    n++;
    return line.replace(from, to);
  });
  if (n !== 1) throw new Error(`${file}: expected the placeholder "${from}" on exactly one line outside comments, found ${n}`);
  return lines.join('\n');
}

/** The deploy config with the nodes' and the proxy's addresses substituted, nothing else. */
export function renderConfig(kind: ProxyKind, nodePorts: readonly number[], port: number, transform: (text: string) => string = (t) => t): string {
  const f = FILES[kind];
  let text = transform(deployFile(kind));
  NODE_PLACEHOLDERS.forEach((ph, i) => (text = replaceOnce(text, ph, `127.0.0.1:${nodePorts[i]}`, f.file)));
  return replaceOnce(text, f.listen, f.bind(port), f.file);
}

export interface RunningProxy {
  kind: ProxyKind;
  port: number;
  /** `ws://127.0.0.1:<port>` */
  wsBase: string;
  httpBase: string;
  /** What the proxy wrote to stdout and stderr. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Start `kind` with its deploy config in front of `nodePorts` (three hubs on 127.0.0.1), on a
 * free port; resolves once the port accepts connections. `transform` edits the file's text
 * first (only for negative controls, such as nginx with `$host`).
 *
 * @example
 * const proxy = await startProxy('nginx', nodes.map((n) => n.port));
 */
export async function startProxy(kind: ProxyKind, nodePorts: readonly number[], transform?: (text: string) => string): Promise<RunningProxy> {
  const bin = proxyPath(kind);
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), `tickhub-${kind}-`));
  chmodSync(dir, 0o755); // nginx workers run as nobody when the test is root
  const conf = path.join(dir, kind === 'nginx' ? 'nginx.conf' : 'haproxy.cfg');
  writeFileSync(conf, renderConfig(kind, nodePorts, port, transform));
  const args =
    kind === 'nginx'
      ? ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log'), '-g', `daemon off; pid ${path.join(dir, 'nginx.pid')};`]
      : ['-f', conf, '-db'];
  const proc: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += String(d)));
  proc.stderr!.on('data', (d) => (out += String(d)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const output = () => out + (kind === 'nginx' && existsSync(path.join(dir, 'error.log')) ? readFileSync(path.join(dir, 'error.log'), 'utf8') : '');
  try {
    await until(`${kind} to listen on ${port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`${kind} exited ${proc.exitCode}: ${output()}`);
      return canConnect(port);
    }, 10_000, 25);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return {
    kind,
    port,
    wsBase: `ws://127.0.0.1:${port}`,
    httpBase: `http://127.0.0.1:${port}`,
    output,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        // SIGTERM: both stop at once (nginx's master stops its workers, which SIGKILL would orphan).
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
