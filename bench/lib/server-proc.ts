/** A server under test running in its own process, with its output going to a log file. */
import { openSync, closeSync } from 'node:fs';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { spawnNode, stopChild } from './child.ts';
import { freePort, waitForPort } from './ports.ts';
import { HOST, type ServerDef } from './targets.ts';

const built = new Set<string>();

/** Runs `def.build` once per process, so every start of this bench runs the current code. */
function ensureBuilt(def: ServerDef, root: string): void {
  if (!def.build || built.has(def.build)) return;
  execFileSync(process.execPath, ['--import', 'tsx', def.build], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  built.add(def.build);
}

export class ServerProcess {
  private constructor(
    readonly def: ServerDef,
    readonly port: number,
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {}

  /** Starts `def` on a free port and resolves once it accepts TCP connections. */
  static async start(def: ServerDef, root: string, logFile: string, options: { wrapper?: string[]; startTimeoutMs?: number; port?: number; env?: Record<string, string> } = {}): Promise<ServerProcess> {
    ensureBuilt(def, root);
    const port = options.port ?? (await freePort());
    const fd = openSync(logFile, 'a');
    // BENCH_CPU_PROF=<dir>: each server writes a V8 CPU profile there when it exits.
    const profileDir = process.env.BENCH_CPU_PROF;
    const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, ...(process.env.BENCH_CPU_PROF_INTERVAL ? [`--cpu-prof-interval=${process.env.BENCH_CPU_PROF_INTERVAL}`] : [])] : [];
    const child = spawnNode({ entry: def.entry, env: { ...def.env(port), ...options.env }, cwd: root, stdio: ['ignore', fd, fd], nodeArgs, wrapper: options.wrapper });
    closeSync(fd);
    const proc = new ServerProcess(def, port, child, logFile);
    try {
      await waitForPort(HOST, port, options.startTimeoutMs ?? 30_000, () => proc.alive);
    } catch (err) {
      await stopChild(child);
      throw new Error(`${def.name} did not start (${(err as Error).message}); see ${logFile}`);
    }
    return proc;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Exit description if the process died, else null. */
  get exitInfo(): string | null {
    if (this.alive) return null;
    return `exited with ${this.child.exitCode ?? this.child.signalCode}`;
  }

  /** Terminates the server. */
  stop(): Promise<void> {
    return stopChild(this.child);
  }

  /** kill -9 (a crash: no close frames, no drain); resolves once it is gone. */
  kill(): Promise<void> {
    return stopChild(this.child, 0, 'SIGKILL');
  }
}
