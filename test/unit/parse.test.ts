import { describe, expect, it } from 'vitest';
import { parseRequest } from '../../server/sessions/parse.ts';

describe('parseRequest', () => {
  it('parses every op with its fields', () => {
    expect(parseRequest('{"op":"sub","id":1,"topic":"a.*","snapshot":5,"maxHz":2}')).toEqual({
      ok: true,
      request: { op: 'sub', id: 1, topic: 'a.*', snapshot: 5, since: undefined, epoch: undefined, maxHz: 2 },
    });
    expect(parseRequest('{"op":"sub","id":1,"topic":"a.*","since":{"a.b":4},"epoch":"e"}')).toMatchObject({ ok: true, request: { since: { 'a.b': 4 }, epoch: 'e' } });
    expect(parseRequest('{"op":"unsub","id":"x","topic":"a"}')).toEqual({ ok: true, request: { op: 'unsub', id: 'x', topic: 'a' } });
    expect(parseRequest('{"op":"pub","id":2,"topic":"a","data":null}')).toEqual({ ok: true, request: { op: 'pub', id: 2, topic: 'a', data: null } });
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
