/** A bounded FIFO that overwrites its oldest item when full; grows its storage lazily. */
export class Ring<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`Ring: capacity must be a positive integer, got ${capacity}`);
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length && this.count < this.capacity) {
      // Full storage but below capacity: grow, re-linearising so the oldest is at index 0.
      if (this.head !== 0) this.items = [...this.items.slice(this.head), ...this.items.slice(0, this.head)];
      this.head = 0;
      this.items.push(item);
      this.count++;
      return;
    }
    const tail = (this.head + this.count) % this.items.length;
    this.items[tail] = item;
    if (this.count < this.items.length) this.count++;
    else this.head = (this.head + 1) % this.items.length;
  }

  /** Item `i` counted from the oldest. */
  at(i: number): T {
    return this.items[(this.head + i) % this.items.length] as T;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return item;
  }
}
