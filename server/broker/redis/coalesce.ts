/**
 * Identical reads asked for in the same turn of the event loop share one Redis command: when
 * thousands of clients resume the same topic from the same seq at once (a reconnect storm),
 * that is one HISTORY script instead of thousands, and the replies are not left waiting behind
 * each other past the command timeout.
 *
 * A read joins only a batch that has not been sent yet: the command goes out after every caller
 * of the turn asked, so each caller's result is at least as fresh as a read of its own would
 * have been (a live subscription registered before asking misses nothing between the two).
 */
export class CoalescedReads<T> {
  private readonly waiting = new Map<string, Promise<T>>();

  run(key: string, read: () => Promise<T>): Promise<T> {
    const queued = this.waiting.get(key);
    if (queued) return queued;
    const batch = new Promise<T>((resolve, reject) => {
      setImmediate(() => {
        this.waiting.delete(key);
        read().then(resolve, reject);
      });
    });
    this.waiting.set(key, batch);
    return batch;
  }
}
