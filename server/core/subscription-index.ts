/**
 * The subscription index: a pure structure that knows nothing of sockets (as uWebSockets'
 * TopicTree), mapping patterns to entries and topics to the entries that match them.
 */
import { isPattern, matches } from '../../protocol/topics.ts';

interface TrieNode<T> {
  children: Map<string, TrieNode<T>>;
  /** Entries whose pattern ends exactly here. */
  here: Set<T>;
  /** Entries whose pattern ends with `>` right below this node. */
  rest: Set<T>;
}

const newNode = <T>(): TrieNode<T> => ({ children: new Map(), here: new Set(), rest: new Set() });

/**
 * Maps patterns to entries and a concrete topic to every entry whose pattern matches it.
 * Matching walks a token trie, so its cost grows with the topic's depth and the wildcards on its
 * path, never with the number of subscriptions. Results are cached per topic, and (as NATS'
 * sublist does) an add or remove updates only the cached results its pattern matches, so a client
 * subscribing never throws away the hot path's cache: the steady state of a fan-out stays one
 * Map lookup. Cached arrays are replaced, never mutated, so a caller iterating one is safe.
 *
 * @example
 * const index = new SubscriptionIndex<string>();
 * index.add('ticks.*', 'a');
 * index.match('ticks.AAPL'); // ['a']
 */
export class SubscriptionIndex<T> {
  private readonly root: TrieNode<T> = newNode();
  private readonly cache = new Map<string, T[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Add `entry` under `pattern` (must be valid). Adding the same entry twice is a no-op. */
  add(pattern: string, entry: T): void {
    const set = this.setFor(pattern, true)!;
    if (set.has(entry)) return;
    set.add(entry);
    this.count++;
    this.updateCache(pattern, (cached) => [...cached, entry]);
  }

  /** Remove `entry` from `pattern`; returns whether it was there. Empty branches are pruned. */
  remove(pattern: string, entry: T): boolean {
    const tokens = pattern.split('.');
    const path: TrieNode<T>[] = [this.root];
    let node = this.root;
    const last = tokens[tokens.length - 1];
    const walk = last === '>' ? tokens.slice(0, -1) : tokens;
    for (const token of walk) {
      const next = node.children.get(token);
      if (!next) return false;
      path.push(next);
      node = next;
    }
    const set = last === '>' ? node.rest : node.here;
    if (!set.delete(entry)) return false;
    this.count--;
    this.updateCache(pattern, (cached) => {
      const i = cached.indexOf(entry); // one occurrence: the entry may also be under another pattern
      return i === -1 ? cached : [...cached.slice(0, i), ...cached.slice(i + 1)];
    });
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i];
      if (n.children.size || n.here.size || n.rest.size) break;
      path[i - 1].children.delete(walk[i - 1]);
    }
    return true;
  }

  /** Every entry whose pattern matches `topic`, each once per pattern it is under. Do not mutate the result. */
  match(topic: string): readonly T[] {
    const cached = this.cache.get(topic);
    if (cached) return cached;
    const out: T[] = [];
    collect(this.root, topic.split('.'), 0, out);
    if (this.cache.size > 10_000) this.cache.clear(); // topics are open-ended; keep the cache bounded
    this.cache.set(topic, out);
    return out;
  }

  /** Apply `change` to the cached result of every topic `pattern` matches. */
  private updateCache(pattern: string, change: (cached: T[]) => T[]): void {
    if (!isPattern(pattern)) {
      const cached = this.cache.get(pattern); // an exact pattern can match one cached topic only
      if (cached) this.cache.set(pattern, change(cached));
      return;
    }
    for (const [topic, cached] of this.cache) if (matches(pattern, topic)) this.cache.set(topic, change(cached));
  }

  private setFor(pattern: string, create: boolean): Set<T> | undefined {
    const tokens = pattern.split('.');
    const last = tokens[tokens.length - 1];
    const walk = last === '>' ? tokens.slice(0, -1) : tokens;
    let node = this.root;
    for (const token of walk) {
      let next = node.children.get(token);
      if (!next) {
        if (!create) return undefined;
        next = newNode();
        node.children.set(token, next);
      }
      node = next;
    }
    return last === '>' ? node.rest : node.here;
  }
}

function collect<T>(node: TrieNode<T>, tokens: string[], depth: number, out: T[]): void {
  if (depth === tokens.length) {
    for (const e of node.here) out.push(e);
    return;
  }
  for (const e of node.rest) out.push(e); // '>' needs at least one more token, which we have
  const exact = node.children.get(tokens[depth]);
  if (exact) collect(exact, tokens, depth + 1, out);
  const star = node.children.get('*');
  if (star) collect(star, tokens, depth + 1, out);
}
