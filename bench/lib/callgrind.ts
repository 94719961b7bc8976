/** Reading callgrind's dumps (bench/ingest-instructions.ts, bench/upgrade-instructions.ts). */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Instructions (Ir) of a dump: in all, and split between threads. */
export interface Counted {
  total: number;
  /** Under node's event loop: the main thread, where messages and handshakes are handled (scavenges included). */
  main: number;
  /** In V8's worker threads: TurboFan compiling, concurrent marking and sweeping. */
  workers: number;
}

/** The newest dump of `prefix` in `outDir`, counted. */
export function dumpedInstructions(outDir: string, prefix: string): Counted {
  const files = readdirSync(outDir).filter((f) => f.startsWith(`${prefix}.`) && /\.\d+$/.test(f)).sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const last = files[files.length - 1];
  if (!last) throw new Error(`no callgrind dump ${prefix}.*`);
  const m = /^(?:summary|totals): (\d+)/m.exec(readFileSync(`${outDir}/${last}`, 'utf8'));
  if (!m) throw new Error(`no totals in ${last}`);
  const annotated = execFileSync('callgrind_annotate', ['--inclusive=yes', `${outDir}/${last}`], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const inclusive = (fn: string) => Number(new RegExp(`^\\s*([\\d,]+) .*${fn}`, 'm').exec(annotated)?.[1].replace(/,/g, '') ?? 0);
  return { total: Number(m[1]), main: inclusive('node::SpinEventLoopInternal'), workers: inclusive('PlatformWorkerThread') };
}
