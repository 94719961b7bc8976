/**
 * The publish fast path's reader, against JSON.parse: on generated frames (every kind of value,
 * in every spelling, nested past the depth limit) and on randomly broken ones, whatever it accepts
 * JSON.parse must read the same, each `data` must be the publisher's text without the whitespace
 * between tokens, and it must accept every valid frame of its shape.
 */
import { describe, expect, it } from 'vitest';
import { flatDataEnd, flatItemEnd, scanBatchBody, scanData, scanPub, scanPubs } from '../../../server/sessions/publish-scan.ts';
import { tooDeep } from '../../../server/sessions/parse.ts';
import { MAX_JSON_DEPTH } from '../../../protocol/limits.ts';
import { Random } from '../../../simulator/random.ts';
import { compactOracle } from '../../support/json-tokens.ts';
import { jsonText } from '../../support/json-gen.ts';

/** A seeded generator (the simulator's), so a failure replays. */
function rng(seed: number): () => number {
  const random = new Random(seed);
  return () => random.next();
}

/** Nested arrays `levels` deep around 1 (`[[1]]` is 2). */
const nested = (levels: number): string => '['.repeat(levels) + '1' + ']'.repeat(levels);

const frame = (id: number, items: Array<[string, string]>): string => `{"op":"pubs","id":${id},"messages":[${items.map(([t, d]) => `{"topic":"${t}","data":${d}}`).join(',')}]}`;

/** The property: an accepted frame reads as JSON.parse reads it; each data is a compact text of the same value. */
function expectFaithful(text: string, maxMessages = 1000): 'accepted' | 'refused' {
  const scanned = scanPubs(text, maxMessages);
  if (scanned === null) return 'refused';
  const parsed = JSON.parse(text) as { op: string; id: number; messages: Array<{ topic: string; data: unknown }> };
  expect(Object.keys(parsed)).toEqual(['op', 'id', 'messages']);
  expect(parsed.op).toBe('pubs');
  expect(scanned.id).toBe(parsed.id);
  expect(scanned.topics).toEqual(parsed.messages.map((m) => m.topic));
  expect(parsed.messages.length).toBeLessThanOrEqual(maxMessages);
  parsed.messages.forEach((m, k) => {
    expect(Object.keys(m)).toEqual(['topic', 'data']);
    expect(tooDeep(m.data)).toBe(false);
    expectSameData(scanned.data[k], m.data);
  });
  return 'accepted';
}

/** `text` is JSON for `value` (keys in the same order), without whitespace between tokens. */
function expectSameData(text: string, value: unknown): void {
  expect(JSON.stringify(JSON.parse(text)), text).toBe(JSON.stringify(value));
  expect(compactOracle(text), text).toBe(text);
}

describe('scanPubs', () => {
  it('reads generated frames as JSON.parse does, each data as written less its whitespace, and accepts every valid one of its shape', () => {
    const rand = rng(16);
    let verbatim = 0;
    let compacted = 0;
    for (let n = 0; n < 3000; n++) {
      const items = Array.from({ length: 1 + Math.floor(rand() * 4) }, (_, k): [string, string] => [`t.${k}`, jsonText(rand, 1, 6)]);
      const text = frame(n, items);
      expect(expectFaithful(text), text).toBe('accepted');
      const data = scanPubs(text, 1000)!.data;
      items.forEach(([, d], k) => {
        expect(data[k]).toBe(compactOracle(d));
        if (data[k] === d) verbatim++;
        else compacted++;
      });
      // The single forms read each data the same way: a `pub` frame, and a body that is the data.
      const [topic, d] = items[0];
      expect(scanPub(`{"op":"pub","id":${n},"topic":"${topic}","data":${d}}`), d).toEqual({ id: n, topic, data: data[0] });
      expect(scanData(` ${d}\n`), d).toBe(data[0]);
    }
    // Both ways of taking a data were exercised: as written, and without its whitespace.
    expect(verbatim).toBeGreaterThan(1000);
    expect(compacted).toBeGreaterThan(500);
  });

  it('accepts nothing that JSON.parse would not, or would read otherwise, among randomly broken frames', () => {
    const rand = rng(61);
    let accepted = 0;
    let refused = 0;
    const noise = ['"', '\\', '{', '}', '[', ']', ',', ':', '-', '.', 'e', '0', '1', ' ', 'u', 'x', '\u0001', '\ud800', 'n', 't'];
    for (let n = 0; n < 6000; n++) {
      let text = frame(n, [['a', jsonText(rand, 1, 5)], ['b', jsonText(rand, 1, 5)]]);
      for (let m = 1 + Math.floor(rand() * 3); m > 0; m--) {
        const at = Math.floor(rand() * text.length);
        const edit = Math.floor(rand() * 3);
        const c = noise[Math.floor(rand() * noise.length)];
        text = edit === 0 ? text.slice(0, at) + text.slice(at + 1) : edit === 1 ? text.slice(0, at) + c + text.slice(at) : text.slice(0, at) + c + text.slice(at + 1);
      }
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      const outcome = valid ? expectFaithful(text) : scanPubs(text, 1000) === null ? 'refused' : 'accepted-invalid';
      expect(outcome, text).not.toBe('accepted-invalid');
      if (outcome === 'accepted') accepted++;
      else refused++;
      // The same broken text as a `pub` frame's data and as a publish body.
      const broken = text.slice(text.indexOf('"data":') + 7, -3);
      const pub = scanPub(`{"op":"pub","id":1,"topic":"t","data":${broken}}`);
      const body = scanData(broken);
      let parsed: unknown;
      try {
        parsed = JSON.parse(broken);
      } catch {
        expect(pub, broken).toBeNull();
        expect(body, broken).toBeNull();
        continue;
      }
      if (body !== null) expectSameData(body, parsed);
      if (pub !== null) expectSameData(pub.data, parsed);
    }
    expect(accepted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(1000);
  });

  it('reads flat data (the shape the regex shortcut takes) as JSON.parse does, and refuses it broken', () => {
    const rand = rng(23);
    let accepted = 0;
    let refused = 0;
    const noise = ['"', '\\', '{', '}', ',', ':', '-', '.', 'e', 'E', '+', '0', '1', 'u', 'a', 'n', '\u0001', '\u001f', ' '];
    for (let n = 0; n < 6000; n++) {
      // Depth 2 at most: a scalar, or an object (or array) of scalars; no whitespace most of the time.
      let data = jsonText(rand, 1, 2);
      if (n % 2 === 1) {
        const at = Math.floor(rand() * data.length);
        const c = noise[Math.floor(rand() * noise.length)];
        data = rand() < 0.5 ? data.slice(0, at) + c + data.slice(at + 1) : data.slice(0, at) + c + data.slice(at);
      }
      let parsed: unknown;
      let valid = true;
      try {
        parsed = JSON.parse(data);
      } catch {
        valid = false;
      }
      const text = frame(n, [['a', data], ['b', '1'], ['c', data]]);
      const scanned = [scanPubs(text, 10)?.data[0], scanPubs(text, 10)?.data[2], scanPub(`{"op":"pub","id":1,"topic":"t","data":${data}}`)?.data, scanData(data)];
      if (!valid) {
        expect(scanned, data).toEqual([undefined, undefined, undefined, null]);
        refused++;
        continue;
      }
      for (const got of scanned) expectSameData(got as string, parsed);
      accepted++;
    }
    expect(accepted).toBeGreaterThan(3000);
    expect(refused).toBeGreaterThan(1000);
  });

  it('takes the usual shapes by its regex shortcut (so a broken regex shows here, not only as lost speed)', () => {
    const rand = rng(5);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    const scalars = ['0', '-0', '7', '-12.5', '1.50', '1e3', '2.5E-7', '1796297946566.123', '""', '"AAPL"', '"é😀"', '"a\\"b\\\\c\\u00e9\\n"', 'true', 'false', 'null'];
    const keys = ['"s"', '"t"', '"sym"', '"bid"', '"\\u0061"', '""'];
    for (let n = 0; n < 500; n++) {
      const data = n % 5 === 0 ? pick(scalars) : `{${Array.from({ length: Math.floor(rand() * 7) }, () => `${pick(keys)}:${pick(scalars)}`).join(',')}}`;
      expect(flatDataEnd(`x${data}x`, 1), data).toBe(data.length + 1);
      const item = `{"topic":"ticks.AAPL","data":${data}}`;
      expect(flatItemEnd(`[${item}]`, 1), item).toBe(item.length + 1);
    }
    // The benchmark's two payloads, as its publishers write them.
    for (const data of ['{"s":41,"t":1796297946566,"sym":"AAPL","bid":225.41,"ask":225.42,"size":41}', `{"s":41,"t":1796297946566.123,"p":"${'x'.repeat(64)}"}`]) expect(flatDataEnd(data, 0)).toBe(data.length);
    // Nesting, whitespace and escapes in the topic are the loop's.
    for (const data of ['{"a":[1]}', '[1]', '{"a":{}}', '{ "a":1}', '{"a": 1}', '{"a":1 }']) expect(flatDataEnd(data, 0), data).toBe(-1);
    expect(flatItemEnd('{"topic":"a\\u0062","data":1}', 0)).toBe(-1);
    expect(flatItemEnd('{"topic":"a","data":1,"x":2}', 0)).toBe(-1);
  });

  it('reads a string of millions of escapes, past what the regex shortcut can hold, with the general reader', () => {
    const escapes = `"${'\\n'.repeat(4_000_000)}"`;
    expect(scanData(escapes)?.length).toBe(escapes.length);
    expect(scanPubs(frame(1, [['t', escapes], ['u', '{"a":1}']]), 10)?.data.map((d) => d.length)).toEqual([escapes.length, 7]);
  });

  it('refuses megabytes of almost-valid data in one linear pass (no input makes its regexes backtrack without end)', () => {
    const n = 1_000_000;
    const hostile = [
      '{' + '"a":1,'.repeat(n / 6),
      '{' + '"a":1,'.repeat(n / 6) + '"a":1]',
      '1.' + '1'.repeat(n) + 'e',
      '"' + 'a'.repeat(n),
      '"' + '\\n'.repeat(n / 2) + '\\x"',
      '{' + '"aaaaaaaa":"bbbbbbbb",'.repeat(n / 22) + '"c":tru}',
    ];
    const started = performance.now();
    for (const data of hostile) {
      expect(scanData(data)).toBeNull();
      expect(scanPubs(frame(1, [['t', data]]), 10)).toBeNull();
    }
    // ~50 ms per megabyte measured; a regex that backtracked per combination would not finish at all.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('takes every number as written, over many spellings and magnitudes, and refuses what JSON does not allow', () => {
    const rand = rng(7);
    const literals = ['0', '-0', '0.5', '0.000001', '-0.0', '1.0', '1.50', '1e21', '1E+3', '2.5e-7', '1e400', '12345678901234567890', '0.1234567890123456'];
    for (let k = 0; k < 20_000; k++) {
      const x = (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 15);
      literals.push(String(x), x.toFixed(Math.floor(rand() * 10)), x.toPrecision(1 + Math.floor(rand() * 17)), x.toExponential(Math.floor(rand() * 5)));
    }
    for (const literal of literals) expect(scanPubs(frame(1, [['t', literal]]), 10)?.data, literal).toEqual([literal]);
    for (const bad of ['01', '-', '1.', '.5', '1e', '1e+', '+1', '0x1', 'NaN', 'Infinity', '1.5.2', '--1']) expect(scanPubs(frame(1, [['t', bad]]), 10), bad).toBeNull();
  });

  it(`takes data nested ${MAX_JSON_DEPTH} levels deep and leaves a deeper one to the general path (which refuses it)`, () => {
    expect(scanPubs(frame(1, [['t', nested(MAX_JSON_DEPTH)]]), 10)?.data).toEqual([nested(MAX_JSON_DEPTH)]);
    expect(tooDeep(JSON.parse(nested(MAX_JSON_DEPTH + 1)))).toBe(true);
    expect(scanPubs(frame(1, [['t', nested(MAX_JSON_DEPTH + 1)]]), 10)).toBeNull();
    expect(scanPubs(frame(1, [['t', '{"a":'.repeat(MAX_JSON_DEPTH + 1) + '1' + '}'.repeat(MAX_JSON_DEPTH + 1)]]), 10)).toBeNull();
  });

  it('reads a pub frame of the usual shape, and leaves others to the general path', () => {
    expect(scanPub('{"op":"pub","id":3,"topic":"a.b","data":{ "p": 1.50 }}')).toEqual({ id: 3, topic: 'a.b', data: '{"p":1.50}' });
    for (const other of ['{"op":"pub","topic":"a","id":3,"data":1}', '{"op":"pub","id":3,"topic":"a","data":1,"x":2}', '{"op":"pub","id":"3","topic":"a","data":1}', '{"op":"pub","id":3,"topic":"a\\u0062","data":1}', '{"op":"pub","id":3,"topic":"a"}', `{"op":"pub","id":3,"topic":"a","data":${nested(MAX_JSON_DEPTH + 1)}}`]) {
      expect(scanPub(other), other).toBeNull();
    }
    expect(scanData(nested(MAX_JSON_DEPTH))).toBe(nested(MAX_JSON_DEPTH));
    expect(scanData(nested(MAX_JSON_DEPTH + 1))).toBeNull();
    expect(scanData('')).toBeNull();
    expect(scanData('1 2')).toBeNull();
  });

  it('reads a POST /api/publish body the same way, whitespace around it allowed', () => {
    const items = '[{"topic":"a","data":{"p":1.5}},{"topic":"b","data":[ 1 ]}]';
    expect(scanBatchBody(`\n {"messages":${items}}\r\n`, 10)).toEqual({ topics: ['a', 'b'], data: ['{"p":1.5}', '[1]'] });
    expect(scanBatchBody(`{"messages":${items}}`, 1)).toBeNull();
    expect(scanBatchBody(`{"messages":${items},"x":1}`, 10)).toBeNull();
    expect(scanBatchBody(`{"op":"pubs","id":1,"messages":${items}}`, 10)).toBeNull();
  });

  it('leaves more than maxMessages, an empty batch and other shapes to the general path', () => {
    const three = frame(1, [['a', '1'], ['b', '2'], ['c', '3']]);
    expect(scanPubs(three, 3)?.topics).toEqual(['a', 'b', 'c']);
    expect(scanPubs(three, 2)).toBeNull();
    for (const other of [
      '{"op":"pubs","id":1,"messages":[]}',
      '{"id":1,"op":"pubs","messages":[{"topic":"a","data":1}]}',
      '{"op":"pubs","id":"x","messages":[{"topic":"a","data":1}]}',
      '{"op":"pubs","id":-1,"messages":[{"topic":"a","data":1}]}',
      '{"op":"pubs","id":01,"messages":[{"topic":"a","data":1}]}',
      '{"op":"pubs","id":1.5,"messages":[{"topic":"a","data":1}]}',
      '{"op":"pubs","id":1,"messages":[{"data":1,"topic":"a"}]}',
      '{"op":"pubs","id":1,"messages":[{"topic":"a","data":1,"x":2}]}',
      '{"op":"pubs","id":1,"messages":[{"topic":"a\\u0062","data":1}]}',
      '{"op":"pubs","id":1,"messages":[{"topic":"a"}]}',
      '{"op":"pubs","id":1,"messages":[{"topic":"a","data":1}],"x":1}',
      '{"op":"pubs","id":1,"messages":[{"topic":"a","data":1}]} x',
      '{"op":"pubs","id":1,"messages":[{"topic":"a","data":1}]',
    ]) {
      expect(scanPubs(other, 10), other).toBeNull();
    }
  });

  it('keeps each data as written (spellings, escapes, key order, duplicates) and drops only the whitespace between its tokens', () => {
    const cases: Array<[string, string]> = [
      ['{"a":1.50}', '{"a":1.50}'],
      ['-0', '-0'],
      ['1E3', '1E3'],
      ['"\\u0041\\/"', '"\\u0041\\/"'],
      ['{"b":1,"1":2}', '{"b":1,"1":2}'],
      ['{"a":1,"a":2}', '{"a":1,"a":2}'],
      ['{"id":12345678901234567890}', '{"id":12345678901234567890}'],
      ['[ 1 ,\n\t2 ]', '[1,2]'],
      ['{ "s" : "a b\\n" }', '{"s":"a b\\n"}'],
      ['"\u2028"', '"\u2028"'],
    ];
    for (const [written, delivered] of cases) expect(scanPubs(frame(1, [['t', written]]), 10)?.data, written).toEqual([delivered]);
  });
});
