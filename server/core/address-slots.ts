/**
 * Counted slots per remote address. A slot is taken synchronously, so any number of parallel
 * admissions cannot take more than the limit, and released exactly once however many of its
 * owners (refusal, socket close, detach) let go of it.
 */

/** One taken slot; `release` is idempotent. A class, not a closure: one is held per connection. */
export class AddressSlot {
  private released = false;

  constructor(
    private readonly counts: Map<string, number>,
    readonly remote: string,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    const left = (this.counts.get(this.remote) ?? 1) - 1;
    if (left > 0) this.counts.set(this.remote, left);
    else this.counts.delete(this.remote);
  }
}

export class AddressSlots {
  private readonly counts = new Map<string, number>();

  /** A slot for `remote`, or null when it holds `limit` already. */
  take(remote: string, limit: number): AddressSlot | null {
    const held = this.counts.get(remote) ?? 0;
    if (held >= limit) return null;
    this.counts.set(remote, held + 1);
    return new AddressSlot(this.counts, remote);
  }
}
