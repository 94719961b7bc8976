/**
 * A Date.now()-compatible clock with sub-millisecond precision. `performance.timeOrigin` is the
 * wall-clock time the process started (microsecond precision), so stamps taken in two processes on
 * the same machine agree to within a few microseconds, which is enough to split the load generator.
 */
const origin = performance.timeOrigin;

/** Unix time in milliseconds, fractional (microsecond resolution). */
export function nowMs(): number {
  return origin + performance.now();
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
