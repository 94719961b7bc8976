/**
 * A Map for the common case of one entry: a connection's subscriptions (a tap of one pattern, an
 * SSE stream of one). One entry lives in two fields; a real Map is made at the second. A Map of
 * one entry costs ~180 bytes, which is a fair share of an idle connection.
 */
export class SmallMap<K, V> {
  /** The only entry while there is at most one (`has1`); unused once `many` exists. */
  private key: K | undefined = undefined;
  private value: V | undefined = undefined;
  private has1 = false;
  private many: Map<K, V> | null = null;

  get size(): number {
    return this.many ? this.many.size : this.has1 ? 1 : 0;
  }

  get(key: K): V | undefined {
    if (this.many) return this.many.get(key);
    return this.has1 && this.key === key ? this.value : undefined;
  }

  has(key: K): boolean {
    if (this.many) return this.many.has(key);
    return this.has1 && this.key === key;
  }

  set(key: K, value: V): this {
    if (this.many) {
      this.many.set(key, value);
    } else if (!this.has1 || this.key === key) {
      this.key = key;
      this.value = value;
      this.has1 = true;
    } else {
      this.many = new Map([[this.key!, this.value!], [key, value]]);
      this.forgetOne();
    }
    return this;
  }

  delete(key: K): boolean {
    if (this.many) return this.many.delete(key);
    if (!this.has1 || this.key !== key) return false;
    this.forgetOne();
    return true;
  }

  clear(): void {
    this.many = null;
    this.forgetOne();
  }

  /** In insertion order, as a Map's. */
  keys(): IterableIterator<K> {
    if (this.many) return this.many.keys();
    return (this.has1 ? [this.key!] : []).values();
  }

  /** In insertion order, as a Map's. */
  values(): IterableIterator<V> {
    if (this.many) return this.many.values();
    return (this.has1 ? [this.value!] : []).values();
  }

  private forgetOne(): void {
    this.key = undefined;
    this.value = undefined;
    this.has1 = false;
  }
}
