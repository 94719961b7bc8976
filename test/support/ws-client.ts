/**
 * A real `ws` client for tests that records every frame and lets a test await the next one
 * matching a predicate, or the close.
 */
import WebSocket from 'ws';
import type { WelcomeFrame } from '../../protocol/wire.ts';

export interface TestSocket {
  ws: WebSocket;
  /** Every text frame received so far, in order. */
  frames: string[];
  /** Resolves with the first frame (already received or future) after `from` matching `pred`. */
  next(pred?: (frame: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Parsed JSON variant of `next`. */
  nextJson<T = Record<string, unknown>>(pred?: (frame: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<T>;
  send(data: string | object): void;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** A tap's socket; its welcome frame is kept apart, so `frames` and `next` see what follows it. */
export interface TapSocket extends TestSocket {
  welcome: WelcomeFrame;
}

/** Open a WebSocket; every frame goes to `frames`. */
export function openSocket(url: string, protocol?: string, options: WebSocket.ClientOptions = {}): Promise<TestSocket> {
  return connect(url, protocol, options, null);
}

/** Open a tap (`/ws/<patterns>`) and wait for its welcome frame, which must come first. */
export async function openTap(url: string, options: WebSocket.ClientOptions = {}): Promise<TapSocket> {
  let first!: (frame: string) => void;
  const welcome = new Promise<string>((resolve) => (first = resolve));
  const socket = await connect(url, undefined, options, first);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const frame = await Promise.race([welcome, socket.closed.then(() => '{}'), new Promise<string>((resolve) => (timer = setTimeout(resolve, 5000, '{}')))]);
  clearTimeout(timer);
  const parsed = JSON.parse(frame) as WelcomeFrame;
  if (parsed.op !== 'welcome') throw new Error(`a tap's first frame must be its welcome, got ${frame}`);
  return Object.assign(socket, { welcome: parsed });
}

async function connect(url: string, protocol: string | undefined, options: WebSocket.ClientOptions, onFirst: ((frame: string) => void) | null): Promise<TestSocket> {
  const ws = new WebSocket(url, protocol ? [protocol] : [], options);
  const frames: string[] = [];
  let cursor = 0;
  let first = onFirst;
  const waiters: Array<() => void> = [];
  ws.on('message', (data, isBinary) => {
    if (first) {
      first(String(data));
      first = null;
      return;
    }
    frames.push(isBinary ? `<binary ${(data as Buffer).length}>` : String(data));
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: String(reason) });
      for (const w of waiters.splice(0)) w();
    });
  });
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  const socket: TestSocket = {
    ws,
    frames,
    closed,
    next(pred = () => true, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for a frame; last frames: ${frames.slice(-5).join(' | ')}`)), timeoutMs);
        const check = () => {
          while (cursor < frames.length) {
            const f = frames[cursor++];
            if (pred(f)) {
              clearTimeout(timer);
              return resolve(f);
            }
          }
          if (ws.readyState === WebSocket.CLOSED) {
            clearTimeout(timer);
            return reject(new Error('socket closed while waiting for a frame'));
          }
          waiters.push(check);
        };
        check();
      });
    },
    async nextJson(pred = () => true, timeoutMs) {
      const f = await socket.next((text) => {
        try {
          return pred(JSON.parse(text));
        } catch {
          return false;
        }
      }, timeoutMs);
      return JSON.parse(f);
    },
    send(data) {
      ws.send(typeof data === 'string' ? data : JSON.stringify(data));
    },
    close() {
      ws.close();
    },
  };
  return socket;
}

/** The HTTP status of a refused upgrade, or 101 if it was accepted. */
export function upgradeStatus(url: string, protocol?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol ? [protocol] : []);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(String(err))) reject(err);
    });
  });
}

export { sleep } from './until.ts';

/** `data` as a publisher may spell it, and the text each is delivered as: its own, without the whitespace between tokens. */
export const DATA_SPELLINGS: ReadonlyArray<readonly [sent: string, delivered: string]> = [
  ['{"p":225.15,"q":[1,true,null,"é\\n"]}', '{"p":225.15,"q":[1,true,null,"é\\n"]}'],
  ['{ "p" : 1.50, "q":"\\u0041" }', '{"p":1.50,"q":"\\u0041"}'],
  ['{"t":1796297946566.123}', '{"t":1796297946566.123}'],
  ['{"id":12345678901234567890,"a":1,"a":2}', '{"id":12345678901234567890,"a":1,"a":2}'],
  ['[ 1E3,\n -0 ]', '[1E3,-0]'],
];

/** The `data` text of each message frame of `topic`, as the hub wrote it (the envelope's last member). */
export function dataTexts(frames: readonly string[], topic: string): string[] {
  return frames.filter((f) => f.startsWith(`{"topic":"${topic}"`)).map((f) => f.slice(f.indexOf('"data":') + 7, -1));
}
