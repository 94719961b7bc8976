/**
 * Message bodies. Every server delivers the same ~150-byte frame shape,
 * `{"topic":"bench.topic","seq":N,"ts":T,"data":{"s":N,"t":SENT_MS,"p":"..."}}`: tickhub builds the
 * envelope itself from `data`; the peers relay what the publisher sends, so the publisher sends the
 * envelope. `t` is the publisher's send time (see clock.ts) that subscribers subtract from.
 * `--payload=ticks` swaps `data` for a market tick of about the same size (see PAYLOAD).
 */

export const BENCH_TOPIC = 'bench.topic';

/** Padding that makes a delivered frame ~150 bytes on the wire (4-byte header + ~146 payload). */
const PAD = 'x'.repeat(42);

/**
 * The `data` shape, from BENCH_PAYLOAD (`npm run bench -- --payload=...` sets it for the load
 * generators): `default`, a 16-digit float send time and padding; or `ticks`, a market tick of
 * the same size, with short prices as a JSON producer writes them and an integer-millisecond
 * send time (latency resolution 1 ms).
 */
export const PAYLOAD = parsePayload(process.env.BENCH_PAYLOAD);

/** A --payload / BENCH_PAYLOAD value, checked. */
export function parsePayload(value: string | undefined): 'default' | 'ticks' {
  if (value === undefined || value === '' || value === 'default') return 'default';
  if (value === 'ticks') return 'ticks';
  throw new Error(`--payload (BENCH_PAYLOAD) must be 'default' or 'ticks', not '${value}'`);
}

/** The `data` object as JSON text. */
export function dataJson(seq: number, sentMs: number): string {
  if (PAYLOAD === 'ticks') {
    const cents = 22_500 + (seq % 97);
    return `{"s":${seq},"t":${Math.round(sentMs)},"sym":"AAPL","bid":${cents / 100},"ask":${(cents + 1) / 100},"size":${seq % 500}}`;
  }
  return `{"s":${seq},"t":${sentMs.toFixed(3)},"p":"${PAD}"}`;
}

/** What the peers (ceiling, naive, socket.io, uWS) receive from the publisher and deliver verbatim. */
export function envelopeJson(seq: number, sentMs: number, topic = BENCH_TOPIC): string {
  return `{"topic":"${topic}","seq":${seq},"ts":${Math.floor(sentMs)},"data":${dataJson(seq, sentMs)}}`;
}

/** A tickhub (and minimal JSON hub) app-mode publish request. */
export function hubPublishJson(seq: number, sentMs: number, topic = BENCH_TOPIC): string {
  return `{"op":"pub","id":${seq},"topic":"${topic}","data":${dataJson(seq, sentMs)}}`;
}

/** One `{topic, data}` item of a batch publish (app-mode `pubs` and `POST /api/publish`). */
export function batchItemJson(seq: number, sentMs: number, topic = BENCH_TOPIC): string {
  return `{"topic":"${topic}","data":${dataJson(seq, sentMs)}}`;
}

/** A Socket.IO EVENT packet (engine.io MESSAGE `4` + socket.io EVENT `2`) asking the server to broadcast. */
export function socketIoPublishPacket(seq: number, sentMs: number, topic = BENCH_TOPIC): string {
  return `42["p",${envelopeJson(seq, sentMs, topic)}]`;
}

/** The many-topics scenario's topics: `ticks.S0000` ... `ticks.S<n-1>`. */
export function manyTopics(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `ticks.S${String(i).padStart(4, '0')}`);
}

const T_KEY = Buffer.from('"t":');
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * Finds `"t":<number>` inside buf[start, end) and returns the number, or NaN.
 * Hand-rolled so sampling costs no string allocation.
 */
export function parseSentMs(buf: Buffer, start: number, end: number): number {
  const at = buf.indexOf(T_KEY, start);
  if (at < 0 || at >= end) return NaN;
  let i = at + T_KEY.length;
  let int = 0;
  let c = buf[i];
  while (i < end && c >= ZERO && c <= NINE) {
    int = int * 10 + (c - ZERO);
    c = buf[++i];
  }
  if (c !== DOT) return int;
  let frac = 0;
  let scale = 1;
  c = buf[++i];
  while (i < end && c >= ZERO && c <= NINE) {
    frac = frac * 10 + (c - ZERO);
    scale *= 10;
    c = buf[++i];
  }
  return int + frac / scale;
}
