/**
 * Preloaded into a server under test (`--expose-gc --import tsx --import ./bench/lib/heap-probe.ts`)
 * by bench/idle-heap.ts: answers IPC requests for its memory after a full GC and for heap
 * snapshots, so the server's own entry file stays unchanged.
 */
import { writeHeapSnapshot } from 'node:v8';

/** A request from the parent. */
export type ProbeRequest = { type: 'memory' } | { type: 'snapshot'; file: string };

/** Bytes after a full GC (`process.memoryUsage()`), or where the snapshot went. */
export type ProbeReply = { type: 'memory'; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; rss: number } | { type: 'snapshot'; file: string };

const gc = (globalThis as { gc?: () => void }).gc;

/** Several passes: a weak reference or finalizer can free more on the next one. */
function fullGc(): void {
  if (!gc) throw new Error('heap-probe needs node --expose-gc');
  for (let i = 0; i < 4; i++) gc();
}

if (process.send) {
  process.on('message', (msg: ProbeRequest) => {
    if (msg.type === 'memory') {
      fullGc();
      const m = process.memoryUsage();
      process.send!({ type: 'memory', heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss } satisfies ProbeReply);
    } else if (msg.type === 'snapshot') {
      fullGc();
      process.send!({ type: 'snapshot', file: writeHeapSnapshot(msg.file) } satisfies ProbeReply);
    }
  });
  // The channel must not keep a server alive that was asked to stop.
  process.channel?.unref();
}
