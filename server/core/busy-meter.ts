/**
 * Whether the event loop has lately been busy: its utilization (the share of time it was not
 * idle waiting for I/O) over the last sample period, read every `periodMs`. The Flusher holds
 * writes for a short window only while this says busy, so an idle hub keeps its lowest latency
 * and a loaded one spends fewer write syscalls per message.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export class BusyMeter {
  private last: EventLoopUtilization = performance.eventLoopUtilization();
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Utilization over the last period, from 0 to 1. */
  utilization = 0;

  constructor(
    private readonly threshold: number,
    private readonly periodMs = 100,
  ) {
    if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`BusyMeter: threshold must be in (0, 1], got ${threshold}`);
  }

  get busy(): boolean {
    return this.utilization >= this.threshold;
  }

  start(): void {
    if (this.timer) return;
    this.last = performance.eventLoopUtilization();
    this.timer = setInterval(() => this.sample(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.utilization = 0;
  }

  /** Read the utilization since the previous sample (the timer's job; public for tests). */
  sample(): void {
    const now = performance.eventLoopUtilization();
    this.utilization = performance.eventLoopUtilization(now, this.last).utilization;
    this.last = now;
  }
}
