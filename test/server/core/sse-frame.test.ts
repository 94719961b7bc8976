/**
 * SSE event bytes: each event is one HTTP chunk with its header built in; a message event is
 * built once and its id-less twin once; ids an SseTransport lets through never go backwards.
 */
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../../server/broker/broker.ts';
import { LAST_CHUNK, chunk, parseSseId, sseEvent, sseIdless, sseMessage, type SseMessageFrame } from '../../../server/core/sse-frame.ts';
import { SseTransport } from '../../../server/core/sse-transport.ts';

const env = (pos: number, json = `{"topic":"a","seq":${pos},"ts":1,"data":"é"}`): Envelope => ({ topic: 'a', seq: pos, ts: 1, pos, json });

/** Undo chunked framing: the bodies, or throw if a length is wrong. */
function dechunk(bytes: Buffer): string[] {
  const bodies: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    const eol = bytes.indexOf('\r\n', at);
    const length = parseInt(bytes.subarray(at, eol).toString('latin1'), 16);
    const body = bytes.subarray(eol + 2, eol + 2 + length);
    expect(bytes.subarray(eol + 2 + length, eol + 4 + length).toString()).toBe('\r\n');
    bodies.push(body.toString('utf8'));
    at = eol + 4 + length;
  }
  return bodies;
}

describe('sse-frame', () => {
  it('#chunk frames multi-byte text with its byte length in hex', () => {
    expect(dechunk(chunk('é'.repeat(200)))).toEqual(['é'.repeat(200)]);
    expect(chunk('abc').toString()).toBe('3\r\nabc\r\n');
    expect(dechunk(LAST_CHUNK)).toEqual(['']);
  });

  it('#sseMessage carries id <epoch>:<pos> and the wire JSON; its id-less twin is built once', () => {
    const frame = sseMessage(env(42), 'EpOch_1') as SseMessageFrame;
    expect(dechunk(frame)).toEqual(['id: EpOch_1:42\ndata: {"topic":"a","seq":42,"ts":1,"data":"é"}\n\n']);
    const idless = sseIdless(frame);
    expect(dechunk(idless)).toEqual(['data: {"topic":"a","seq":42,"ts":1,"data":"é"}\n\n']);
    expect(sseIdless(frame)).toBe(idless);
    // A message stored before positions existed (pos 0) never gets an id.
    expect(dechunk(sseMessage(env(0), 'E'))[0].startsWith('data: ')).toBe(true);
  });

  it('#sseEvent names the event', () => {
    expect(dechunk(sseEvent('close', '{"code":1012}'))).toEqual(['event: close\ndata: {"code":1012}\n\n']);
    expect(dechunk(sseEvent('welcome', '{}', 'E:5'))).toEqual(['id: E:5\nevent: welcome\ndata: {}\n\n']);
  });

  it('#parseSseId takes <epoch>:<pos> and nothing else', () => {
    expect(parseSseId('AbC-_9:120')).toEqual({ epoch: 'AbC-_9', pos: 120 });
    for (const bad of ['', 'AbC', ':1', 'a:b', 'a:1:2', 'a b:1', `${'x'.repeat(65)}:1`, 'a:1234567890123456']) expect(parseSseId(bad), bad).toBeNull();
  });
});

describe('SseTransport', () => {
  it('lets ids through only in increasing pos order, from its start position; older messages go id-less', () => {
    const transport = new SseTransport(new Socket());
    transport.startAt(10);
    const ids = [9, 11, 15, 12, 16, 16].map((pos) => dechunk(transport.label(sseMessage(env(pos), 'E')))[0].split('\n')[0]);
    expect(ids).toEqual(['data: {"topic":"a","seq":9,"ts":1,"data":"é"}', 'id: E:11', 'id: E:15', 'data: {"topic":"a","seq":12,"ts":1,"data":"é"}', 'id: E:16', 'data: {"topic":"a","seq":16,"ts":1,"data":"é"}']);
    const control = sseEvent('reset', '{}');
    expect(transport.label(control)).toBe(control); // not a message: as it is
  });

  it('maps control ops to events (error becomes hub-error) and gives the welcome the start position as id', () => {
    const transport = new SseTransport(new Socket());
    transport.startAt(7);
    expect(dechunk(transport.control({ op: 'welcome', epoch: 'E' } as { op: string }))[0]).toMatch(/^id: E:7\nevent: welcome\ndata: \{"op":"welcome","epoch":"E"\}/);
    expect(dechunk(transport.control({ op: 'error' }))[0]).toMatch(/^event: hub-error\n/);
    expect(dechunk(transport.control({ op: 'reset' }))[0]).toMatch(/^event: reset\n/);
  });
});
