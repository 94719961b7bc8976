/**
 * Readers for /proc/<pid>: CPU time (utime + stime of all threads) and memory (VmRSS, VmHWM).
 * Note: on loopback the kernel's TCP receive path runs in the sender's context, so a server's
 * CPU time includes delivering into its subscribers' receive queues.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck = 0;
function ticksPerSecond(): number {
  if (clkTck === 0) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** CPU seconds (user + system, all threads) consumed so far by `pid`. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm (field 2) may contain spaces and parens: fields after the last ')' start at field 3.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / ticksPerSecond();
}

/** Resident and peak-resident memory of `pid` in bytes. */
export interface MemoryInfo {
  rss: number;
  hwm: number;
}

/** Reads VmRSS and VmHWM of `pid`. */
export function memory(pid: number): MemoryInfo {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : NaN;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Samples a process's RSS periodically and keeps the peak, for per-phase peaks (VmHWM is per-life). */
export class RssSampler {
  private timer: NodeJS.Timeout | null = null;
  peak = 0;

  constructor(private readonly pid: number, private readonly everyMs = 100) {}

  /** Starts sampling from zero. */
  start(): void {
    this.stop();
    this.peak = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  /** Stops sampling, takes a last sample, and returns the peak RSS in bytes. */
  stop(): number {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    return this.peak;
  }

  private sample(): void {
    try {
      const { rss } = memory(this.pid);
      if (rss > this.peak) this.peak = rss;
    } catch {
      /* process gone */
    }
  }
}

/** CPU seconds all CPUs of the machine spent busy (everything but idle and iowait) since boot. */
export function systemBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return busy / ticksPerSecond();
}

/** CPU seconds used so far by `pids` together (processes that are gone count 0). */
export function cpuSecondsOf(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += cpuSeconds(pid);
    } catch {
      /* gone */
    }
  }
  return sum;
}

/**
 * Measures CPU use by everything except `ours` (other programs on the machine) as a number of
 * cores. A benchmark on a shared machine cannot be trusted while this is high.
 */
export class ForeignLoad {
  private busy0 = 0;
  private ours0 = 0;
  private t0 = 0;

  constructor(private readonly ours: () => number[]) {}

  start(): void {
    this.busy0 = systemBusySeconds();
    this.ours0 = cpuSecondsOf(this.ours());
    this.t0 = performance.now();
  }

  /** Cores used by other processes since `start()`. */
  cores(): number {
    const wall = (performance.now() - this.t0) / 1000;
    const other = systemBusySeconds() - this.busy0 - (cpuSecondsOf(this.ours()) - this.ours0);
    return wall > 0 ? Math.max(0, other / wall) : 0;
  }
}
