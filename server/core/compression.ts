/**
 * Shared compression (COMPRESSION=shared): permessage-deflate (RFC 7692) negotiated with
 * `server_no_context_takeover`, so a message compresses to the same bytes for every connection
 * and is deflated ONCE, however many subscribers get it (uWebSockets' SHARED_COMPRESSOR). `ws`
 * negotiates the extension (and inflates what clients send compressed); the hub writes its own
 * frames, so it compresses them here. A compressed message is raw deflate with the trailing
 * 00 00 ff ff removed, in one frame with RSV1 set; a message left plain has RSV1 clear, which the
 * extension allows on any connection.
 */
import { constants, deflateRawSync } from 'node:zlib';
import type { PerMessageDeflateOptions, WebSocket } from 'ws';
import type { Envelope } from '../broker/broker.ts';
import { frameBytes } from './outbox.ts';

export type CompressionMode = 'off' | 'shared';

/** The zlib window the shared compressor uses; a client that limits it lower gets plain frames. */
const WINDOW_BITS = 15;
/** FIN + RSV1 (compressed) + text opcode. */
const DEFLATED_TEXT = 0xc1;
/** Bytes (frames plus the JSON they came from) of recently compressed messages kept for replays. */
export const RECENT_FRAMES_BYTES = 8 * 1024 * 1024;

/**
 * `ws` options for COMPRESSION=shared. The client's offer is respected (`ws` refuses nothing it
 * can honour): a `server_max_window_bits` below 15 is accepted, and that connection is sent plain
 * frames. `threshold` is ws's own sender's (unused: the hub frames its own messages).
 */
export function perMessageDeflateOptions(): PerMessageDeflateOptions {
  return { serverNoContextTakeover: true, threshold: Number.MAX_SAFE_INTEGER };
}

/**
 * Compresses messages for connections that negotiated permessage-deflate. One instance per hub;
 * it holds no zlib state between messages (each deflate runs in a context made and freed for it),
 * so its memory does not grow with connections. Recently compressed messages are kept (at most
 * RECENT_FRAMES_BYTES, oldest out first), so replaying them (snapshots, resumes, a reconnect
 * storm) to many connections deflates each once too.
 */
export class SharedDeflate {
  /** By `topic seq`; the JSON is kept to tell a topic that restarted its seqs from the cached message. */
  private readonly recent = new Map<string, { json: string; frame: Buffer }>();
  private recentBytes = 0;

  constructor(
    /** Messages shorter than this (UTF-8 bytes of JSON) are sent plain: deflate saves little on them. */
    readonly minBytes: number,
  ) {
    if (!(Number.isInteger(minBytes) && minBytes >= 0)) throw new RangeError(`SharedDeflate: minBytes must be an integer >= 0, got ${minBytes}`);
  }

  /**
   * `text` as one compressed frame (RSV1 set), or null when it is below `minBytes` (the caller
   * sends its plain frame). The result is the same for every connection.
   */
  frame(text: string): Buffer | null {
    if (text.length < this.minBytes && Buffer.byteLength(text) < this.minBytes) return null;
    const deflated = deflateRawSync(text, { windowBits: WINDOW_BITS, finishFlush: constants.Z_SYNC_FLUSH });
    // Z_SYNC_FLUSH ends on an empty stored block, 00 00 ff ff, which RFC 7692 7.2.1 removes.
    return frameBytes(DEFLATED_TEXT, deflated, deflated.length - 4);
  }

  /** A message's compressed frame (see `frame`), deflated at most once while it stays recent. */
  message(env: Envelope): Buffer | null {
    const key = `${env.topic} ${env.seq}`;
    const hit = this.recent.get(key);
    if (hit && hit.json === env.json) return hit.frame;
    const frame = this.frame(env.json);
    if (frame) this.remember(key, env.json, frame);
    return frame;
  }

  private remember(key: string, json: string, frame: Buffer): void {
    const old = this.recent.get(key);
    if (old) {
      this.recent.delete(key);
      this.recentBytes -= old.frame.length + old.json.length;
    }
    this.recent.set(key, { json, frame });
    this.recentBytes += frame.length + json.length;
    for (const [k, v] of this.recent) {
      if (this.recentBytes <= RECENT_FRAMES_BYTES) break;
      this.recent.delete(k);
      this.recentBytes -= v.frame.length + v.json.length;
    }
  }
}

interface NegotiatedDeflate {
  params: { server_max_window_bits?: number } | null;
}

/**
 * The shared compressor if `ws` negotiated permessage-deflate on this socket with a window the
 * shared frames fit in; null means plain frames.
 */
export function sharedDeflateFor(ws: WebSocket, deflate: SharedDeflate | null): SharedDeflate | null {
  if (!deflate) return null;
  // `ws` keeps the accepted extension (and its parameters) here; `extensions` is only the names.
  const negotiated = (ws as unknown as { _extensions?: Record<string, NegotiatedDeflate> })._extensions?.['permessage-deflate'];
  if (!negotiated?.params) return null;
  const window = negotiated.params.server_max_window_bits ?? WINDOW_BITS;
  return window >= WINDOW_BITS ? deflate : null;
}
