/** The one polling helper of the suite: wait for a condition, fail loudly with what was awaited. */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Poll `fn` until it returns a truthy value, and resolve with it. Throws after `timeoutMs`,
 * naming `what` and the last value or error seen, so a timeout explains itself.
 *
 * @example
 * await until('the subscriber to catch up', () => sub.last === 100, 5000);
 */
export async function until<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await fn();
      if (last) return last as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${String(last)}`);
    await sleep(everyMs);
  }
}
