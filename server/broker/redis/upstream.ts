/**
 * The upstream planner: which Redis channels and globs a node must subscribe to so that every
 * local pattern is covered with as few upstream subscriptions as possible. Pure: it knows the
 * channel naming (`<prefix>m:<topic>`) and nothing of Redis connections.
 */

export type UpstreamKind = 'channel' | 'pattern';

/**
 * The smallest set of channels and globs covering every pattern: an exact topic gets its own
 * channel; a pattern gets the glob of its first token (`<prefix>m:ticks.*`); a pattern starting
 * with a wildcard gets everything (`<prefix>m:*`), which then covers all the rest.
 *
 * @example
 * planUpstream(['ticks.AAPL', 'bars.*.AAPL'], 'th:') // th:m:ticks.AAPL channel, th:m:bars.* glob
 */
export function planUpstream(patterns: Iterable<string>, prefix: string): Map<string, UpstreamKind> {
  const all = `${prefix}m:*`;
  const globs = new Set<string>();
  const channels = new Set<string>();
  for (const pattern of patterns) {
    const tokens = pattern.split('.');
    if (!tokens.some((t) => t === '*' || t === '>')) channels.add(`${prefix}m:${pattern}`);
    else if (tokens[0] === '*' || tokens[0] === '>') globs.add(all);
    else globs.add(`${prefix}m:${tokens[0]}.*`);
  }
  const wanted = new Map<string, UpstreamKind>();
  if (globs.has(all)) return wanted.set(all, 'pattern');
  for (const g of globs) wanted.set(g, 'pattern');
  for (const c of channels) if (![...globs].some((g) => c.startsWith(g.slice(0, -1)))) wanted.set(c, 'channel');
  return wanted;
}

/**
 * True if a message on `topic`'s channel reaches this node through one of `upstream`. A pattern
 * works too: its glob is always the prefix of its literal first tokens, so it is covered by the
 * glob the planner gives it or by `<prefix>m:*`.
 */
export function isCovered(topic: string, upstream: ReadonlyMap<string, UpstreamKind>, prefix: string): boolean {
  const channel = `${prefix}m:${topic}`;
  for (const [name, kind] of upstream) {
    if (kind === 'channel' ? name === channel : channel.startsWith(name.slice(0, -1))) return true;
  }
  return false;
}
