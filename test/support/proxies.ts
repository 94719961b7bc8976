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
import { makeCertPair } from './tls-certs.ts';
import { until } from './until.ts';
import net from 'node:net';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The placeholder node addresses both deploy configs use (see their header comments). */
export const NODE_PLACEHOLDERS = ['10.0.0.11:5000', '10.0.0.12:5000', '10.0.0.13:5000'] as const;

export type ProxyKind = 'nginx' | 'haproxy';
/** A config file in deploy/: the plain ones, and the TLS-terminating ones beside them. */
export type ProxyConfig = ProxyKind | 'nginx-tls' | 'haproxy-tls';

/** Where a rendered config listens and finds its certificate. */
interface Placement {
  port: number;
  /** The plain-http listener of a TLS config (it only redirects). */
  redirectPort: number;
  certFile: string;
  keyFile: string;
  /** Certificate and key in one file (HAProxy's `crt`). */
  pemFile: string;
}

const BINARIES: Record<ProxyKind, { bins: string[]; pkg: string; env: string }> = {
  nginx: { bins: ['/usr/sbin/nginx', '/usr/bin/nginx'], pkg: 'nginx', env: 'NGINX_PATH' },
  haproxy: { bins: ['/usr/sbin/haproxy', '/usr/bin/haproxy'], pkg: 'haproxy', env: 'HAPROXY_PATH' },
};

/** Each file and the placeholders its header comment names, with what replaces them. */
const FILES: Record<ProxyConfig, { kind: ProxyKind; file: string; tls: boolean; places: (p: Placement) => Array<[string, string]> }> = {
  nginx: { kind: 'nginx', file: 'deploy/nginx.conf', tls: false, places: (p) => [['listen 8080 ', `listen 127.0.0.1:${p.port} `]] },
  haproxy: { kind: 'haproxy', file: 'deploy/haproxy.cfg', tls: false, places: (p) => [['bind :8080', `bind 127.0.0.1:${p.port}`]] },
  'nginx-tls': {
    kind: 'nginx',
    file: 'deploy/nginx-tls.conf',
    tls: true,
    places: (p) => [
      ['listen 443 ssl', `listen 127.0.0.1:${p.port} ssl`],
      ['listen 80;', `listen 127.0.0.1:${p.redirectPort};`],
      ['ssl_certificate /etc/nginx/tickhub/fullchain.pem;', `ssl_certificate ${p.certFile};`],
      ['ssl_certificate_key /etc/nginx/tickhub/privkey.pem;', `ssl_certificate_key ${p.keyFile};`],
    ],
  },
  'haproxy-tls': {
    kind: 'haproxy',
    file: 'deploy/haproxy-tls.cfg',
    tls: true,
    places: (p) => [
      ['bind :443 ssl crt /etc/haproxy/tickhub.pem', `bind 127.0.0.1:${p.port} ssl crt ${p.pemFile}`],
      ['bind :80', `bind 127.0.0.1:${p.redirectPort}`],
    ],
  },
};

/** The deploy file's text, byte for byte (what docs/operations.md must show). */
export function deployFile(config: ProxyConfig): string {
  return readFileSync(path.join(ROOT, FILES[config].file), 'utf8');
}

/** Path of the proxy binary, or a loud error saying how to get it. */
export function proxyPath(kind: ProxyKind): string {
  const f = BINARIES[kind];
  for (const c of [process.env[f.env], ...f.bins]) if (c && existsSync(c)) return c;
  throw new Error(
    `${kind} not found (looked at $${f.env}, ${f.bins.join(', ')}). The deploy tests run the documented configs in deploy/: ` +
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

/** The deploy config with the nodes' and the proxy's addresses (and certificate) substituted, nothing else. */
function renderConfig(config: ProxyConfig, nodePorts: readonly number[], placement: Placement, transform: (text: string) => string = (t) => t): string {
  const f = FILES[config];
  let text = transform(deployFile(config));
  NODE_PLACEHOLDERS.forEach((ph, i) => (text = replaceOnce(text, ph, `127.0.0.1:${nodePorts[i]}`, f.file)));
  for (const [from, to] of f.places(placement)) text = replaceOnce(text, from, to, f.file);
  return text;
}

export interface RunningProxy {
  kind: ProxyKind;
  port: number;
  /** `ws://127.0.0.1:<port>`, `wss://` for a TLS config. */
  wsBase: string;
  /** `http://127.0.0.1:<port>`, `https://` for a TLS config. */
  httpBase: string;
  /** A TLS config: its certificate (made for 127.0.0.1 and localhost; pass it as `ca`) and its plain-http (redirecting) listener. */
  tls?: { cert: Buffer; redirectBase: string };
  /** What the proxy wrote to stdout and stderr. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Start the deploy config `config` in front of `nodePorts` (three hubs on 127.0.0.1), on a free
 * port; resolves once the port accepts connections. A TLS config gets a self-signed certificate
 * made for the run. `transform` edits the file's text first (only for negative controls, such as
 * nginx with `$host`).
 *
 * @example
 * const proxy = await startProxy('nginx', nodes.map((n) => n.port));
 * const tls = await startProxy('haproxy-tls', nodes.map((n) => n.port)); // tls.tls.cert is its CA
 */
export async function startProxy(config: ProxyConfig, nodePorts: readonly number[], transform?: (text: string) => string): Promise<RunningProxy> {
  const { kind, tls } = FILES[config];
  const bin = proxyPath(kind);
  const port = await freePort();
  const redirectPort = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), `tickhub-${kind}-`));
  chmodSync(dir, 0o755); // nginx workers run as nobody when the test is root
  const pair = tls ? makeCertPair(dir, 'proxy') : null; // read by the master, as root
  const pemFile = path.join(dir, 'proxy.pem');
  if (pair) writeFileSync(pemFile, Buffer.concat([pair.cert, readFileSync(pair.keyFile)]));
  const placement: Placement = { port, redirectPort, certFile: pair?.certFile ?? '', keyFile: pair?.keyFile ?? '', pemFile };
  const conf = path.join(dir, kind === 'nginx' ? 'nginx.conf' : 'haproxy.cfg');
  writeFileSync(conf, renderConfig(config, nodePorts, placement, transform));
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
    wsBase: `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}`,
    httpBase: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    tls: pair ? { cert: pair.cert, redirectBase: `http://127.0.0.1:${redirectPort}` } : undefined,
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
