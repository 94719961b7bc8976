import { describe, expect, it } from 'vitest';
import { EventStreamParser, type StreamEvent } from '../../client/event-stream.ts';

function parse(chunks: string[]): { events: StreamEvent[]; retries: number[] } {
  const events: StreamEvent[] = [];
  const retries: number[] = [];
  const parser = new EventStreamParser({ event: (e) => events.push(e), retry: (ms) => retries.push(ms) });
  for (const c of chunks) parser.push(c);
  return { events, retries };
}

const STREAM = 'retry: 1000\n\nid: e1:0\nevent: welcome\ndata: {"op":"welcome"}\n\n: hb\n\nid: e1:7\ndata: {"topic":"t","seq":1}\n\nevent: reset\ndata: {"op":"reset"}\n\n';
const EXPECTED = [
  { event: 'welcome', data: '{"op":"welcome"}' },
  { event: 'message', data: '{"topic":"t","seq":1}' },
  { event: 'reset', data: '{"op":"reset"}' },
];

describe('EventStreamParser', () => {
  it('#push decodes named and default events, comments and retry', () => {
    expect(parse([STREAM])).toEqual({ events: EXPECTED, retries: [1000] });
  });

  it('#push gives the same events however the text is chunked (down to one character)', () => {
    expect(parse([...STREAM]).events).toEqual(EXPECTED);
    for (let cut = 1; cut < STREAM.length; cut += 7) expect(parse([STREAM.slice(0, cut), STREAM.slice(cut)]).events).toEqual(EXPECTED);
  });

  it('#push takes CRLF and CR line ends, also split across chunks, and joins multi-line data', () => {
    const crlf = STREAM.replaceAll('\n', '\r\n');
    expect(parse([crlf]).events).toEqual(EXPECTED);
    for (let cut = 1; cut < crlf.length; cut += 5) expect(parse([crlf.slice(0, cut), crlf.slice(cut)]).events).toEqual(EXPECTED);
    // A CR at the end may be the first half of a CRLF: the last event waits for the next byte.
    const cr = STREAM.replaceAll('\n', '\r');
    expect(parse([cr]).events).toEqual(EXPECTED.slice(0, 2));
    expect(parse([cr, ': hb\r']).events).toEqual(EXPECTED);
    expect(parse(['data: a\ndata:b\ndata\n\n']).events).toEqual([{ event: 'message', data: 'a\nb\n' }]);
  });

  it('#push dispatches nothing for an event without data, nor for an unfinished one', () => {
    expect(parse(['event: x\n\nid: 3\n\ndata: half']).events).toEqual([]);
  });

  it('#push throws on a line longer than its bound instead of buffering without end', () => {
    const parser = new EventStreamParser({ event() {}, retry() {} }, 16);
    parser.push('data: 0123456789');
    expect(() => parser.push('abcdefgh')).toThrow(/longer than 16/);
  });
});
