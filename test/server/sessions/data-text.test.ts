/**
 * The general path's `data` texts (for requests JSON.parse reads, in any shape) against the
 * oracle, and against the fast reader where both read a request: a publish is delivered the same
 * whichever path took it.
 */
import { describe, expect, it } from 'vitest';
import { compactJson, itemDataTexts, memberText } from '../../../server/sessions/data-text.ts';
import { scanPub, scanPubs } from '../../../server/sessions/publish-scan.ts';
import { Random } from '../../../simulator/random.ts';
import { compactOracle } from '../../support/json-tokens.ts';
import { jsonText } from '../../support/json-gen.ts';

const space = (rand: () => number): string => (rand() < 0.2 ? [' ', '\n', '\t', '\r\n '][Math.floor(rand() * 4)] : '');

/** An object's text from members in random order, with whitespace, each name escaped or not. */
function object(rand: () => number, members: Array<[string, string]>): string {
  const order = [...members].sort(() => rand() - 0.5);
  const name = (n: string) => (rand() < 0.2 ? `"${[...n].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"` : `"${n}"`);
  return `${space(rand)}{${order.map(([n, v]) => `${space(rand)}${name(n)}${space(rand)}:${space(rand)}${v}${space(rand)}`).join(',')}}${space(rand)}`;
}

describe('data-text', () => {
  it('finds each data as written less its whitespace in requests of any shape, as JSON.parse reads them', () => {
    const random = new Random(28);
    const rand = () => random.next();
    for (let n = 0; n < 2000; n++) {
      const datas = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => jsonText(rand, 1, 5));
      const extra: Array<[string, string]> = rand() < 0.5 ? [['x', jsonText(rand, 1, 4)]] : [];
      const items = datas.map((d, k) => object(rand, [['topic', `"t.${k}"`], ['data', d], ...extra]));
      const pubs = object(rand, [['op', '"pubs"'], ['id', String(n)], ['messages', `[${items.join(',')}]`], ...extra]);
      expect(itemDataTexts(pubs), pubs).toEqual(datas.map(compactOracle));
      const pub = object(rand, [['op', '"pub"'], ['id', String(n)], ['topic', '"t"'], ['data', datas[0]], ...extra]);
      expect(memberText(pub, 'data'), pub).toBe(compactOracle(datas[0]));
      // What JSON.parse reads there is the same value.
      expect(JSON.stringify(JSON.parse(memberText(pub, 'data')!))).toBe(JSON.stringify((JSON.parse(pub) as { data: unknown }).data));
    }
  });

  it('reads what the fast reader reads the same, for every request both take', () => {
    const random = new Random(82);
    const rand = () => random.next();
    for (let n = 0; n < 1000; n++) {
      const datas = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => jsonText(rand, 1, 5));
      const pubs = `{"op":"pubs","id":${n},"messages":[${datas.map((d, k) => `{"topic":"t.${k}","data":${d}}`).join(',')}]}`;
      expect(itemDataTexts(pubs)).toEqual(scanPubs(pubs, 1000)!.data);
      const pub = `{"op":"pub","id":${n},"topic":"t","data":${datas[0]}}`;
      expect(memberText(pub, 'data')).toBe(scanPub(pub)!.data);
    }
  });

  it('takes the last of duplicate keys as JSON.parse does, and nothing for items without data', () => {
    expect(memberText('{"data":1,"d\\u0061ta":[ 2 ]}', 'data')).toBe('[2]');
    expect(memberText('{"op":"pub"}', 'data')).toBeUndefined();
    expect(memberText('{}', 'data')).toBeUndefined();
    expect(itemDataTexts('{"messages":[{"topic":"a"},1,"x",{"data":{"data":3}},[],{"data":null}]}')).toEqual([undefined, undefined, undefined, '{"data":3}', undefined, 'null']);
    expect(itemDataTexts('{"messages":[]}')).toEqual([]);
    expect(itemDataTexts('{"messages":1,"x":[{"data":1}]}')).toEqual([]);
    // Nested far deeper than MAX_JSON_DEPTH beside `data`: walked without recursion.
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(memberText(`{"x":${deep},"data":"ok"}`, 'data')).toBe('"ok"');
  });

  it('drops the whitespace between tokens and none inside strings', () => {
    const text = ' { "a b" : [ 1 ,\t"x\\" y" ] ,\r\n"c":{ } } ';
    expect(compactJson(text, 1, text.length - 1)).toBe('{"a b":[1,"x\\" y"],"c":{}}');
    expect(compactJson('[1,2]', 0, 5)).toBe('[1,2]');
  });

  it('ends on any text, valid JSON or not', () => {
    for (const broken of ['{"data":"unterminated', '{"data":[[[', '{"a":1,', '{"', '{"messages":[{"data":', '{"messages":[1,']) {
      expect(() => memberText(broken, 'data')).not.toThrow();
      expect(() => itemDataTexts(broken)).not.toThrow();
    }
  });
});
