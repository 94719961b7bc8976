/** The retention rules as the Redis broker and its scripts need them: per topic, cached. */
import type { RetentionRule } from '../../config.ts';
import { matches } from '../../../protocol/topics.ts';
import { forgetAfterMs } from '../broker.ts';

export interface Retention {
  maxMessages: number;
  maxAgeMs: number;
}

/** Topics whose rule is remembered at most; past it the cache starts over. */
const CACHE_LIMIT = 10_000;

/**
 * First matching rule wins; a topic that matches none keeps nothing. Every node must use the
 * same rules (the sweep script applies them cluster-wide).
 * @example
 * const table = new RetentionTable(defaultRetention);
 * table.of('ticks.AAPL'); // { maxMessages: 1000, maxAgeMs: 3_600_000 }
 */
export class RetentionTable {
  private readonly cache = new Map<string, Retention>();

  constructor(private readonly rules: RetentionRule[]) {}

  of(topic: string): Retention {
    let r = this.cache.get(topic);
    if (!r) {
      const rule = this.rules.find((x) => matches(x.pattern, topic));
      r = { maxMessages: rule?.maxMessages ?? 0, maxAgeMs: (rule?.maxAgeSeconds ?? 0) * 1000 };
      if (this.cache.size > CACHE_LIMIT) this.cache.clear();
      this.cache.set(topic, r);
    }
    return r;
  }

  /** How long after its last publish an idle topic is forgotten. */
  forgetAfter(topic: string): number {
    const { maxMessages, maxAgeMs } = this.of(topic);
    return forgetAfterMs(maxMessages, maxAgeMs);
  }

  /** The rules as the sweep script's ARGV triples: pattern, max messages, max age ms. */
  scriptArgs(): string[] {
    return this.rules.flatMap((r) => [r.pattern, String(r.maxMessages), String(r.maxAgeSeconds * 1000)]);
  }
}
