/**
 * Things that fall due at a time, kept in a binary min-heap behind ONE timer, armed for the
 * earliest. Costs O(log n) per item and wakes only when something is due, however many items
 * wait: maxHz releases and credential expiries use it instead of polling every entry.
 *
 * Items are not removed when they stop mattering (a closed connection); `onDue` checks and
 * ignores those, so the owner never searches the heap.
 */
import type { Logger } from 'pino';
import { guarded } from '../guard.ts';

interface Entry<T> {
  at: number;
  item: T;
}

export class DueQueue<T> {
  private readonly heap: Entry<T>[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private armedFor = Infinity;
  private readonly fire: () => void;

  /**
   * @param onDue called once per item whose time (performance.now() ms) has come, in time order.
   * @example
   * const expiries = new DueQueue<Connection>(log, 'expiry', (conn) => conn.close(4001, 'expired'));
   * expiries.add(performance.now() + 5000, conn);
   */
  constructor(log: Pick<Logger, 'error'>, what: string, private readonly onDue: (item: T) => void) {
    this.fire = guarded(log, what, () => this.run());
  }

  get size(): number {
    return this.heap.length;
  }

  add(at: number, item: T): void {
    const heap = this.heap;
    heap.push({ at, item });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].at <= heap[i].at) break;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
    if (at < this.armedFor) this.arm(at);
  }

  /** Forget everything and stop the timer. */
  clear(): void {
    this.heap.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
  }

  private run(): void {
    this.timer = null;
    this.armedFor = Infinity;
    const now = performance.now();
    try {
      while (this.heap.length > 0 && this.heap[0].at <= now) this.onDue(this.pop());
    } finally {
      if (this.heap.length > 0) this.arm(this.heap[0].at);
    }
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(this.fire, Math.max(0, Math.ceil(at - performance.now())));
    this.timer.unref();
  }

  private pop(): T {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l].at < heap[m].at) m = l;
        if (r < heap.length && heap[r].at < heap[m].at) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i], heap[m]];
        i = m;
      }
    }
    return top.item;
  }
}
