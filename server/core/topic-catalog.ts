/**
 * The cluster-wide topic list for `GET /api/topics` and `/topics` with a shared broker (Redis):
 * every topic with messages, whichever node published it. Fetching it costs the broker a scan of
 * its topic set, so the sorted list is cached for CATALOG_TTL_MS, refreshed on demand (one fetch
 * at a time, however many listings wait for it), merged with the topics this node counts and
 * bounded by MAX_TOPICS. Pages are then cut from it as from the local list.
 */
import type { Broker } from '../broker/broker.ts';

/** How long a fetched topic list serves listings. */
export const CATALOG_TTL_MS = 1000;

export class TopicCatalog {
  private cached: readonly string[] | null = null;
  private fetchedAt = 0;
  private refreshing: Promise<readonly string[]> | null = null;

  /**
   * @param broker where the cluster's topics are listed
   * @param local this node's topics, sorted (they are listed even before the broker's list has them)
   * @param maxTopics the list is cut at this many topics (MAX_TOPICS)
   * @example
   * const catalog = new TopicCatalog(broker, () => topicStats.sortedTopics(), config.maxTopics);
   * const keys = await catalog.sorted();
   */
  constructor(
    private readonly broker: Pick<Broker, 'topics'>,
    private readonly local: () => readonly string[],
    private readonly maxTopics: number,
    private readonly ttlMs = CATALOG_TTL_MS,
  ) {}

  /**
   * Every known topic, sorted, at most `maxTopics`: at most `ttlMs` old. While the broker is
   * unreachable, the last list (or this node's own topics) is served.
   */
  sorted(): Promise<readonly string[]> {
    if (this.cached && Date.now() - this.fetchedAt < this.ttlMs) return Promise.resolve(this.cached);
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async refresh(): Promise<readonly string[]> {
    let remote: string[];
    try {
      remote = await this.broker.topics();
    } catch {
      return this.cached ?? this.local();
    }
    this.cached = union(remote.sort(), this.local()).slice(0, this.maxTopics);
    this.fetchedAt = Date.now();
    return this.cached;
  }
}

/** The sorted union of two sorted lists, without duplicates. */
function union(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i] <= b[j]) ? a[i++] : b[j++];
    if (out[out.length - 1] !== next) out.push(next);
  }
  return out;
}
