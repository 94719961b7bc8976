/**
 * `npx tsx bench/cpuprofile-top.ts <file.cpuprofile> [--top=30]`: where a V8 CPU profile's time
 * went, as shares (so a noisy machine still gives the right picture): self time per function and
 * per source file, and inclusive time of the functions whose name or file matches `--focus=re`.
 * `--last-ms=N` keeps only the last N ms of samples (skips the process's start-up: module
 * loading under tsx dominates a short run otherwise).
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (!file) throw new Error('usage: cpuprofile-top.ts <file.cpuprofile> [--top=30] [--focus=regex]');
const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const top = Number(arg('top') ?? 30);
const focus = arg('focus');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const lastMs = Number(arg('last-ms') ?? Infinity);
const at: number[] = [];
let clock = 0;
for (const d of profile.timeDeltas) at.push((clock += d));
const from = clock - lastMs * 1000;
const self = new Map<number, number>();
profile.samples.forEach((id, i) => {
  if (at[i] >= from) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
const idle = [...self].filter(([id]) => ['(idle)', '(program)'].includes(byId.get(id)!.callFrame.functionName)).reduce((a, [, t]) => a + t, 0);
const busy = total - idle;

const shortUrl = (u: string): string => u.replace(/^file:\/\/.*?\/(node_modules|server|protocol|bench)\//, '$1/').replace(/^node:/, 'node:');
const label = (n: Node): string => `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

const fnSelf = new Map<string, number>();
const fileSelf = new Map<string, number>();
for (const [id, t] of self) {
  const n = byId.get(id)!;
  if (['(idle)', '(program)'].includes(n.callFrame.functionName)) continue;
  add(fnSelf, label(n), t);
  add(fileSelf, shortUrl(n.callFrame.url) || `(${n.callFrame.functionName})`, t);
}
const pct = (t: number): string => `${((t / busy) * 100).toFixed(1).padStart(5)}%`;
const print = (title: string, m: Map<string, number>) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(t)}  ${k}\n`);
};
process.stdout.write(`${file}: ${(busy / 1e6).toFixed(2)} s busy of ${(total / 1e6).toFixed(2)} s sampled (shares below are of busy time)\n`);
print('self time by function', fnSelf);
print('self time by file', fileSelf);

if (focus) {
  const re = new RegExp(focus);
  const incl = new Map<string, number>();
  for (const [id, t] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (re.test(l) && !seen.has(l)) {
        seen.add(l);
        add(incl, l, t);
      }
    }
  }
  print(`inclusive time of functions matching /${focus}/`, incl);
}
