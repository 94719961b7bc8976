/**
 * Frame-once fan-out for the `ws` peers (ceiling and the minimal JSON hub): each message is framed
 * once and the same bytes are written to every matching subscriber's raw socket; every socket
 * written in a turn is corked and uncorked once (setImmediate), so a burst leaves in one writev.
 *
 * Subscriptions are exact topics, `prefix.*` (one trailing token) or `>` (everything); the bench's
 * subscription mixes give each subscriber one kind, so no de-duplication is needed.
 */
import type { Socket } from 'node:net';
import * as wsModule from 'ws';

/** `ws` exports its frame encoder at runtime; @types/ws does not declare it. */
interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } };
const TEXT: FrameOptions = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false };

/** One unmasked text frame holding `payload`. */
export function textFrame(payload: Buffer): Buffer {
  return Buffer.concat(Sender.frame(payload, TEXT));
}

/** The patterns of a subscriber's request path: `/sub` = the bench topic, `/sub?t=a,b.*,>` = those. */
export function patternsOf(url: string | undefined, fallback: string): string[] {
  const q = url?.indexOf('?t=') ?? -1;
  if (q < 0) return [fallback];
  return decodeURIComponent(url!.slice(q + 3)).split(',').filter(Boolean);
}

/** Where a topic's bytes go: exact, one-trailing-token wildcard, and catch-all subscribers. */
export class FanOut {
  private readonly exact = new Map<string, Set<Socket>>();
  private readonly star = new Map<string, Set<Socket>>();
  private readonly all = new Set<Socket>();
  private readonly corked = new Set<Socket>();
  private uncorkQueued = false;

  /** Adds `socket` under each pattern; returns a function that removes it again. */
  add(socket: Socket, patterns: readonly string[]): () => void {
    const sets: Set<Socket>[] = [];
    for (const p of patterns) {
      if (p === '>') sets.push(this.all);
      else if (p.endsWith('.*')) sets.push(this.setOf(this.star, p.slice(0, -2)));
      else sets.push(this.setOf(this.exact, p));
    }
    for (const s of sets) s.add(socket);
    return () => {
      for (const s of sets) s.delete(socket);
      this.corked.delete(socket);
    };
  }

  /** Frames `payload` once and writes it to every subscriber of `topic`. */
  publish(topic: string, payload: Buffer): void {
    const frame = textFrame(payload);
    this.write(this.exact.get(topic), frame);
    const dot = topic.lastIndexOf('.');
    if (dot > 0) this.write(this.star.get(topic.slice(0, dot)), frame);
    this.write(this.all, frame);
  }

  private write(sockets: Set<Socket> | undefined, frame: Buffer): void {
    if (!sockets) return;
    for (const s of sockets) {
      if (!this.corked.has(s)) {
        s.cork();
        this.corked.add(s);
      }
      s.write(frame);
    }
    if (!this.uncorkQueued && this.corked.size > 0) {
      this.uncorkQueued = true;
      setImmediate(this.uncorkAll);
    }
  }

  private readonly uncorkAll = (): void => {
    this.uncorkQueued = false;
    for (const s of this.corked) s.uncork();
    this.corked.clear();
  };

  private setOf(map: Map<string, Set<Socket>>, key: string): Set<Socket> {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    return set;
  }
}

/** The topic of an envelope the publisher sends verbatim: `{"topic":"<t>",...` (no JSON parse). */
export function envelopeTopic(text: Buffer): string | null {
  const PREFIX = 10; // `{"topic":"`
  const end = text.indexOf(0x22, PREFIX);
  return end > PREFIX ? text.toString('latin1', PREFIX, end) : null;
}
