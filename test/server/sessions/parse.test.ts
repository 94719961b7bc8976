import { describe, expect, it } from 'vitest';
import { parseRequest, tooDeep } from '../../../server/sessions/parse.ts';
import { MAX_JSON_DEPTH, MAX_SINCE_TOPICS } from '../../../protocol/limits.ts';

describe('parseRequest', () => {
  it('parses every op with its fields', () => {
    expect(parseRequest('{"op":"sub","id":1,"topic":"a.*","snapshot":5,"maxHz":2}')).toEqual({
      ok: true,
      request: { op: 'sub', id: 1, topic: 'a.*', snapshot: 5, since: undefined, epoch: undefined, maxHz: 2 },
    });
    expect(parseRequest('{"op":"sub","id":1,"topic":"a.*","since":{"a.b":4},"epoch":"e"}')).toMatchObject({ ok: true, request: { since: { 'a.b': 4 }, epoch: 'e' } });
    expect(parseRequest('{"op":"unsub","id":"x","topic":"a"}')).toEqual({ ok: true, request: { op: 'unsub', id: 'x', topic: 'a' } });
    expect(parseRequest('{"op":"pub","id":2,"topic":"a","data":null}')).toEqual({ ok: true, request: { op: 'pub', id: 2, topic: 'a', data: null } });
    expect(parseRequest('{"op":"pubs","id":3,"messages":[{"topic":"a","data":1},"x"]}')).toEqual({ ok: true, request: { op: 'pubs', id: 3, messages: [{ topic: 'a', data: 1 }, 'x'] } });
    expect(parseRequest('{"op":"history","id":3,"topic":"a","since":1,"limit":10}')).toMatchObject({ ok: true, request: { since: 1, limit: 10 } });
    expect(parseRequest('{"op":"auth","id":4,"token":"t"}')).toEqual({ ok: true, request: { op: 'auth', id: 4, token: 't' } });
    expect(parseRequest('{"op":"ping","id":5}')).toEqual({ ok: true, request: { op: 'ping', id: 5 } });
  });

  it.each([
    ['{bad', 'bad_json', undefined],
    ['"str"', 'bad_request', undefined],
    ['null', 'bad_request', undefined],
    ['[]', 'bad_request', undefined],
    ['{"op":"ping"}', 'bad_request', undefined],
    ['{"op":"ping","id":{}}', 'bad_request', undefined],
    ['{"id":1}', 'bad_request', 1],
    ['{"op":"fly","id":1}', 'unknown_op', 1],
    ['{"op":"sub","id":1}', 'bad_request', 1],
    ['{"op":"sub","id":1,"topic":"a","snapshot":-1}', 'bad_request', 1],
    ['{"op":"sub","id":1,"topic":"a","since":"x"}', 'bad_request', 1],
    ['{"op":"sub","id":1,"topic":"a","since":{"a":-2}}', 'bad_request', 1],
    ['{"op":"sub","id":1,"topic":"a","maxHz":5000}', 'bad_request', 1],
    ['{"op":"pub","id":1,"topic":"a"}', 'bad_request', 1],
    ['{"op":"pubs","id":1,"messages":{}}', 'bad_request', 1],
    ['{"op":"history","id":1,"topic":"a","limit":1e9}', 'bad_request', 1],
    ['{"op":"auth","id":1}', 'bad_request', 1],
  ])('%s -> %s', (text, code, id) => {
    const result = parseRequest(text);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.code).toBe(code);
      expect(result.id).toBe(id);
      expect(result.message.length).toBeGreaterThan(5);
    }
  });
});

describe('parseRequest limits', () => {
  const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

  it('refuses pub data nested deeper than MAX_JSON_DEPTH, without recursing', () => {
    expect(parseRequest(`{"op":"pub","id":1,"topic":"a","data":${nested(MAX_JSON_DEPTH)}}`)).toMatchObject({ ok: true });
    for (const depth of [MAX_JSON_DEPTH + 1, 30_000]) {
      const result = parseRequest(`{"op":"pub","id":1,"topic":"a","data":${nested(depth)}}`);
      expect(result).toMatchObject({ ok: false, id: 1, code: 'bad_request' });
      if (!result.ok) expect(result.message).toContain(String(MAX_JSON_DEPTH));
    }
    expect(tooDeep({ a: [{ b: 1 }] })).toBe(false);
    expect(tooDeep(JSON.parse(`{"x":${'{"y":'.repeat(100)}1${'}'.repeat(100)}}`))).toBe(true);
  });

  it('refuses a since object listing more than MAX_SINCE_TOPICS topics', () => {
    const since = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`t.${i}`, 1]));
    expect(parseRequest(JSON.stringify({ op: 'sub', id: 1, topic: 't.*', since: since(MAX_SINCE_TOPICS) }))).toMatchObject({ ok: true });
    const result = parseRequest(JSON.stringify({ op: 'sub', id: 1, topic: 't.*', since: since(5500) }));
    expect(result).toMatchObject({ ok: false, id: 1, code: 'bad_request' });
    if (!result.ok) expect(result.message).toContain(String(MAX_SINCE_TOPICS));
  });
});
