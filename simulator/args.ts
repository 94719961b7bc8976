/**
 * Command-line flags of `npm run simulator`, validated into RunSimulatorOptions. Pure (the
 * environment is passed in) so it can be tested without a process.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SYMBOLS } from './market.ts';

export const DEFAULT_HUB_URL = 'ws://127.0.0.1:5000/ws';
export const DEFAULT_SEED = 1;
export const DEFAULT_RATE = 5;
export const MAX_RATE = 1000;

export const USAGE = `Usage: npm run simulator -- [options]

Publishes simulated market data (ticks, trades, bars in 1s/1m/5m/15m/1h, an L2 order book,
fills, P&L) to a tickhub hub. On connecting it first publishes a seeded history (the last hour
of 1s bars and P&L, the last day of the longer bars), unless --no-warm.

Options:
  --seed N         random seed, an integer (default ${DEFAULT_SEED}); same seed, same market
  --rate N         ticks per second per symbol, 0 < N <= ${MAX_RATE} (default ${DEFAULT_RATE})
  --symbols LIST   comma-separated, from ${DEFAULT_SYMBOLS.join(',')} (default: all)
  --speed N        market time per wall time, > 0 (default 1; 60 = a minute per second)
  --hub URL        app-mode endpoint (default $HUB_URL or ${DEFAULT_HUB_URL})
  --key KEY        publish key (default $HUB_PUBLISH_KEY)
  --no-warm        start cold: no seeded history, live data only
  -h, --help       show this help`;

export interface CliOptions {
  seed: number;
  rate: number;
  symbols: string[];
  speed: number;
  hubUrl: string;
  key: string | undefined;
  /** Publish the seeded history first (false with --no-warm). */
  warm: boolean;
  help: boolean;
}

/** A bad flag; the message names it. */
export class ArgsError extends Error {
  override name = 'ArgsError';
}

/** Parse and validate `argv` (without node and script). Throws ArgsError naming the bad flag. */
export function parseCliArgs(argv: readonly string[], env: Record<string, string | undefined> = {}): CliOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        seed: { type: 'string' },
        rate: { type: 'string' },
        symbols: { type: 'string' },
        speed: { type: 'string' },
        hub: { type: 'string' },
        key: { type: 'string' },
        'no-warm': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new ArgsError((err as Error).message);
  }
  const str = (name: string): string | undefined => values[name] as string | undefined;

  const seedText = str('seed');
  let seed = DEFAULT_SEED;
  if (seedText !== undefined) {
    seed = Number(seedText);
    if (seedText.trim() === '' || !Number.isSafeInteger(seed)) throw new ArgsError(`--seed must be an integer, got "${seedText}"`);
  }

  const rate = positive('--rate', str('rate'), DEFAULT_RATE);
  if (rate > MAX_RATE) throw new ArgsError(`--rate must be at most ${MAX_RATE} ticks per second per symbol, got ${rate}`);
  const speed = positive('--speed', str('speed'), 1);

  let symbols = [...DEFAULT_SYMBOLS];
  const symbolsText = str('symbols');
  if (symbolsText !== undefined) {
    symbols = symbolsText.split(',').map((s) => s.trim()).filter(Boolean);
    if (symbols.length === 0) throw new ArgsError('--symbols needs at least one symbol');
    for (const s of symbols) {
      if (!DEFAULT_SYMBOLS.includes(s)) throw new ArgsError(`--symbols: unknown symbol "${s}" (known: ${DEFAULT_SYMBOLS.join(', ')})`);
    }
    const dup = symbols.find((s, i) => symbols.indexOf(s) !== i);
    if (dup) throw new ArgsError(`--symbols lists "${dup}" twice`);
  }

  const hubFlag = str('hub');
  const hubUrl = hubFlag ?? (env.HUB_URL || DEFAULT_HUB_URL);
  const hubSource = hubFlag !== undefined ? '--hub' : 'HUB_URL';
  let parsed: URL;
  try {
    parsed = new URL(hubUrl);
  } catch {
    throw new ArgsError(`${hubSource} must be a ws:// or wss:// URL, got "${hubUrl}"`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new ArgsError(`${hubSource} must be a ws:// or wss:// URL, got "${hubUrl}"`);
  }

  const keyFlag = str('key');
  if (keyFlag !== undefined && keyFlag === '') throw new ArgsError('--key must not be empty');
  const key = keyFlag ?? (env.HUB_PUBLISH_KEY || undefined);

  return { seed, rate, symbols, speed, hubUrl, key, warm: values['no-warm'] !== true, help: values.help === true };
}

function positive(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new ArgsError(`${flag} must be a positive number, got "${text}"`);
  return n;
}
