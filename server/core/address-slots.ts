/**
 * Counted slots per remote address. A slot is taken synchronously, so any number of parallel
 * admissions cannot take more than the limit, and released exactly once however many of its
 * owners (refusal, socket close, detach) let go of it.
 */

/** One taken slot; `release` is idempotent. */
export interface AddressSlot {
  readonly remote: string;
  release(): void;
}

export class AddressSlots {
  private readonly counts = new Map<string, number>();

  /** A slot for `remote`, or null when it holds `limit` already. */
  take(remote: string, limit: number): AddressSlot | null {
    const held = this.counts.get(remote) ?? 0;
    if (held >= limit) return null;
    this.counts.set(remote, held + 1);
    let released = false;
    return {
      remote,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.counts.get(remote) ?? 1) - 1;
        if (left > 0) this.counts.set(remote, left);
        else this.counts.delete(remote);
      },
    };
  }
}
