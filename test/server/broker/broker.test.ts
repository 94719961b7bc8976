/** The broker seam's pure helpers: the wire JSON of a message and the remembered ts text. */
import { describe, expect, it } from 'vitest';
import { encodeMessage, tsText } from '../../../server/broker/broker.ts';

describe('tsText', () => {
  it('is String(ts) for every ts, repeated or not', () => {
    for (const ts of [1764100000123, 1764100000123, 1764100000124, 0, -0, 1764100000123, 1.5, Number.NaN]) expect(tsText(ts)).toBe(String(ts));
  });
});

describe('encodeMessage', () => {
  it('is the JSON of the message', () => {
    const json = encodeMessage('ticks.AAPL', 42, 1764100000123, '{"p":"a\\"b"}');
    expect(JSON.parse(json)).toEqual({ topic: 'ticks.AAPL', seq: 42, ts: 1764100000123, data: { p: 'a"b' } });
    expect(encodeMessage('t', 43, 1764100000124, '1')).toBe('{"topic":"t","seq":43,"ts":1764100000124,"data":1}');
  });
});
