/**
 * Spawning bench processes (servers and load generators): each runs `node [--import tsx] <entry>`
 * directly (no npx/tsx wrapper process), so the child's pid is the process whose /proc stats we
 * read. A bash `exec` shim first raises the soft open-files limit to the hard limit; exec keeps
 * the pid and the IPC channel.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Soft and hard RLIMIT_NOFILE of this process. */
export function openFileLimits(): { soft: number; hard: number } {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = (s: string | undefined): number => (s === 'unlimited' || s === undefined ? Infinity : Number(s));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/** Options for `spawnNode`. */
export interface NodeChildOptions {
  entry: string;
  env?: Record<string, string>;
  stdio: StdioOptions;
  cwd?: string;
  nodeArgs?: string[];
  /** A program that runs node (e.g. `valgrind --tool=callgrind`); it must keep the pid (exec). */
  wrapper?: string[];
}

/** Starts `node --import tsx <entry>` (a .ts entry) or `node <entry>` with the open-files limit raised. */
export function spawnNode(opts: NodeChildOptions): ChildProcess {
  const loader = opts.entry.endsWith('.ts') ? ['--import', 'tsx'] : ['--enable-source-maps'];
  const args = [...(opts.nodeArgs ?? []), ...loader, opts.entry];
  return spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'bash', ...(opts.wrapper ?? []), process.execPath, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: opts.stdio,
  });
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export function stopChild(child: ChildProcess, graceMs = 3000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
