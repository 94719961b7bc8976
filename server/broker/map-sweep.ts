/**
 * Forget entries of a big Map a bounded slice at a time: each `step` visits at most `budget`
 * entries and resumes where the last one stopped, so a timer can sweep 100k topics without
 * ever stalling the event loop for long.
 */
export class MapSweeper<K, V> {
  private cursor: Iterator<[K, V]> | null = null;

  /** @param forget says whether an entry should go; it is deleted from `map` when true. */
  constructor(
    private readonly map: Map<K, V>,
    private readonly forget: (key: K, value: V) => boolean,
    private readonly onForget: (key: K) => void = () => {},
  ) {}

  /**
   * Visit up to `budget` entries (Map iterators survive deletion and see later additions);
   * returns how many were forgotten.
   * @example
   * const sweeper = new MapSweeper(streams, (_, s) => s.idle());
   * setInterval(() => sweeper.step(5000), 250);
   */
  step(budget: number): number {
    let forgotten = 0;
    this.cursor ??= this.map.entries();
    for (let i = 0; i < budget; i++) {
      const next = this.cursor.next();
      if (next.done) {
        this.cursor = null; // the next step starts a new pass
        break;
      }
      const [key, value] = next.value;
      if (this.forget(key, value)) {
        this.map.delete(key);
        this.onForget(key);
        forgotten++;
      }
    }
    return forgotten;
  }
}
