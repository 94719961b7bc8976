/**
 * A V8 heap snapshot (`.heapsnapshot`) summed by what each node is: count and self bytes per
 * group, and the difference of two such summaries, so what a server keeps per connection can be
 * read off as (after - before) / connections. Groups say where things come from: a closure by
 * its function and source line, a context or property/element backing store by its owner.
 */
import { readFileSync } from 'node:fs';

export interface Group {
  /** `object:Connection`, `closure:onPong server/core/heartbeat.ts:33`, `properties of object:Socket`... */
  key: string;
  count: number;
  bytes: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]]; location_fields: string[] } };
  nodes: number[];
  edges: number[];
  locations: number[];
  strings: string[];
}

/** Node types whose name says little per node (every string is its own text): grouped by type alone. */
const BY_TYPE = new Set(['string', 'concatenated string', 'sliced string', 'number', 'hidden', 'code']);

/** Every group of `file`. */
export function summarizeSnapshot(file: string): Map<string, Group> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const { meta } = snap.snapshot;
  const nf = meta.node_fields;
  const ef = meta.edge_fields;
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const width = nf.length;
  const ewidth = ef.length;
  const [iType, iName, iSize, iEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f));
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f));
  const count = snap.nodes.length / width;
  const { nodes, edges, strings } = snap;
  const type = (n: number) => types[nodes[n * width + iType]];
  const name = (n: number) => strings[nodes[n * width + iName]];
  const firstEdge = new Uint32Array(count + 1);
  for (let n = 0, e = 0; n < count; n++) {
    firstEdge[n] = e;
    e += nodes[n * width + iEdges] * ewidth;
  }
  firstEdge[count] = edges.length;
  /** The node `n` points to by the named internal/property edge `edge`, or -1. */
  const follow = (n: number, edge: string): number => {
    for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += ewidth) {
      const t = edgeTypes[edges[e + eType]];
      if (t !== 'element' && t !== 'hidden' && strings[edges[e + eName]] === edge) return edges[e + eTo] / width;
    }
    return -1;
  };
  // Source lines of closures.
  const line = new Map<number, string>();
  const lf = meta.location_fields;
  const [lObj, lLine] = ['object_index', 'line'].map((f) => lf.indexOf(f));
  for (let i = 0; i < snap.locations.length; i += lf.length) line.set(snap.locations[i + lObj] / width, String(snap.locations[i + lLine] + 1));
  const scriptOf = new Map<number, string>();
  const where = (closure: number): string => {
    const shared = follow(closure, 'shared');
    const script = shared >= 0 ? follow(shared, 'script_or_debug_info') : -1;
    let file = '?';
    if (script >= 0) {
      file = scriptOf.get(script) ?? '';
      if (!file) {
        file = name(script).replace(/^.*?\/(node_modules\/|server\/|bench\/|protocol\/)/, '$1');
        scriptOf.set(script, file);
      }
    }
    return `${file}:${line.get(closure) ?? '?'}`;
  };
  // Owners: who holds a properties/elements backing store, which closure a context belongs to.
  const owner = new Int32Array(count).fill(-1);
  for (let n = 0; n < count; n++) {
    const isClosure = type(n) === 'closure';
    for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += ewidth) {
      const to = edges[e + eTo] / width;
      if (owner[to] !== -1 || edgeTypes[edges[e + eType]] !== 'internal') continue;
      const edge = strings[edges[e + eName]];
      if (edge === 'properties' || edge === 'elements' || edge === 'table' || (isClosure && edge === 'context')) owner[to] = n;
    }
  }
  const keyOf = (n: number): string => {
    const t = type(n);
    if (BY_TYPE.has(t)) return t;
    if (t === 'closure') return `closure:${name(n)} ${where(n)}`;
    return `${t}:${name(n)}`.slice(0, 80);
  };
  const groups = new Map<string, Group>();
  for (let n = 0; n < count; n++) {
    let key = keyOf(n);
    if (owner[n] !== -1 && (t(n) === 'array' || name(n) === 'system / Context' || t(n) === 'hidden')) key = `${key} of ${keyOf(owner[n])}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { key, count: 0, bytes: 0 }));
    g.count++;
    g.bytes += nodes[n * width + iSize];
  }
  return groups;
  function t(n: number): string {
    return type(n);
  }
}

/** after - before per group, divided by `per`, largest growth first. */
export function diffSummaries(before: Map<string, Group>, after: Map<string, Group>, per: number): Group[] {
  const out: Group[] = [];
  for (const [key, a] of after) {
    const b = before.get(key);
    const count = (a.count - (b?.count ?? 0)) / per;
    const bytes = (a.bytes - (b?.bytes ?? 0)) / per;
    if (bytes !== 0 || count !== 0) out.push({ key, count, bytes });
  }
  return out.sort((x, y) => y.bytes - x.bytes);
}
