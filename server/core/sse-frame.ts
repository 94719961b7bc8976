/**
 * Server-Sent Events as bytes. The response body is chunked (sse-transport.ts says why), so every
 * event is one HTTP chunk and the chunk header is part of the shared Buffer: a message's event is
 * built once and the same Buffer goes to every SSE subscriber, as a WebSocket frame does.
 *
 * A message event carries `id: <epoch>:<pos>`; its id-less twin (for a message released out of pos
 * order, so ids a client sees never go backwards) is built lazily, once, and hung on the first.
 * The data is wire JSON, which never holds a raw newline, so one `data:` line always suffices.
 */
import type { Envelope } from '../broker/broker.ts';

/** A message event, with what its id-less twin needs. */
export type SseMessageFrame = Buffer & { ssePos?: number; sseJson?: string; sseIdless?: Buffer };

/** One HTTP/1.1 chunk holding `body`. */
export function chunk(body: string): Buffer {
  const length = Buffer.byteLength(body);
  const head = `${length.toString(16)}\r\n`;
  const out = Buffer.allocUnsafe(head.length + length + 2);
  out.write(head, 0, 'latin1');
  out.write(body, head.length, 'utf8');
  out.write('\r\n', head.length + length, 'latin1');
  return out;
}

/** `id: <epoch>:<pos>` + `data: <json>`: a message as an SSE event (id-less when it has no pos). */
export function sseMessage(env: Envelope, epoch: string): Buffer {
  if (!(env.pos > 0)) return chunk(`data: ${env.json}\n\n`);
  const frame: SseMessageFrame = chunk(`id: ${epoch}:${env.pos}\ndata: ${env.json}\n\n`);
  frame.ssePos = env.pos;
  frame.sseJson = env.json;
  return frame;
}

/** The same message without its `id:` line, built once per message. */
export function sseIdless(frame: SseMessageFrame): Buffer {
  return (frame.sseIdless ??= chunk(`data: ${frame.sseJson}\n\n`));
}

/** A named event (`welcome`, `reset`, `hub-error`, `close`, ...), optionally with an id. */
export function sseEvent(name: string, json: string, id?: string): Buffer {
  return chunk(`${id === undefined ? '' : `id: ${id}\n`}event: ${name}\ndata: ${json}\n\n`);
}

/** The heartbeat comment, shared by every stream. */
export const SSE_HEARTBEAT = chunk(': hb\n\n');

/** The last chunk of a chunked body. */
export const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** The SSE id of a position: `<epoch>:<pos>` (epochs are base64url, so never hold a colon). */
export const sseId = (epoch: string, pos: number): string => `${epoch}:${pos}`;

/** `<epoch>:<pos>` back into its parts; null if it is not one. */
export function parseSseId(id: string): { epoch: string; pos: number } | null {
  const m = /^([A-Za-z0-9_-]{1,64}):(\d{1,15})$/.exec(id.trim());
  return m ? { epoch: m[1], pos: Number(m[2]) } : null;
}
