import { describe, expect, it } from 'vitest';
import { ArgsError, DEFAULT_HUB_URL, parseCliArgs } from '../../simulator/args.ts';

describe('parseCliArgs', () => {
  it('has sensible defaults', () => {
    expect(parseCliArgs([])).toEqual({
      seed: 1,
      rate: 5,
      symbols: ['AAPL', 'MSFT', 'NVDA', 'BTC-USD', 'ETH-USD', 'EURUSD'],
      speed: 1,
      hubUrl: DEFAULT_HUB_URL,
      key: undefined,
      warm: true,
      help: false,
    });
    expect(parseCliArgs(['--no-warm']).warm).toBe(false);
  });

  it('reads every flag', () => {
    const cli = parseCliArgs(['--seed', '42', '--rate', '2.5', '--symbols', 'AAPL, BTC-USD', '--speed', '60', '--hub', 'wss://hub.example/ws', '--key', 'sekrit-key']);
    expect(cli).toMatchObject({ seed: 42, rate: 2.5, symbols: ['AAPL', 'BTC-USD'], speed: 60, hubUrl: 'wss://hub.example/ws', key: 'sekrit-key' });
    expect(parseCliArgs(['--seed=-3']).seed).toBe(-3);
    expect(parseCliArgs(['-h']).help).toBe(true);
  });

  it('falls back to HUB_URL and HUB_PUBLISH_KEY, flags winning', () => {
    const env = { HUB_URL: 'ws://10.0.0.5:5000/ws', HUB_PUBLISH_KEY: 'from-env-key' };
    expect(parseCliArgs([], env)).toMatchObject({ hubUrl: 'ws://10.0.0.5:5000/ws', key: 'from-env-key' });
    expect(parseCliArgs(['--hub', 'ws://other/ws', '--key', 'flag-key'], env)).toMatchObject({ hubUrl: 'ws://other/ws', key: 'flag-key' });
    expect(parseCliArgs([], { HUB_URL: '', HUB_PUBLISH_KEY: '' })).toMatchObject({ hubUrl: DEFAULT_HUB_URL, key: undefined });
  });

  it.each([
    [['--seed', 'abc'], /--seed must be an integer, got "abc"/],
    [['--seed', '1.5'], /--seed/],
    [['--rate', '0'], /--rate must be a positive number/],
    [['--rate', '-1'], /--rate/],
    [['--rate', 'fast'], /--rate/],
    [['--rate', '5000'], /--rate must be at most 1000/],
    [['--speed', '0'], /--speed/],
    [['--symbols', 'AAPL,TSLA'], /--symbols: unknown symbol "TSLA" \(known: AAPL/],
    [['--symbols', ','], /--symbols needs at least one/],
    [['--symbols', 'AAPL,AAPL'], /--symbols lists "AAPL" twice/],
    [['--hub', 'http://127.0.0.1:5000/ws'], /--hub must be a ws:\/\/ or wss:\/\/ URL/],
    [['--hub', 'not a url'], /--hub/],
    [['--key', ''], /--key must not be empty/],
    [['--bogus'], /bogus/],
    [['--rate'], /--rate/],
    [['stray'], /stray/],
  ])('rejects %j naming the flag', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(ArgsError);
    expect(() => parseCliArgs(argv)).toThrow(message);
  });

  it('names HUB_URL when the bad URL came from the environment', () => {
    expect(() => parseCliArgs([], { HUB_URL: 'localhost:5000' })).toThrow(/HUB_URL must be a ws:\/\/ or wss:\/\/ URL/);
  });
});
