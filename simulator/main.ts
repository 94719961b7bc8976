/**
 * `npm run simulator -- [--seed N] [--rate N] [--symbols A,B] [--speed N] [--hub URL] [--key KEY] [--no-warm]`
 *
 * Importing this module has no side effects (it re-exports `runSimulator` for `npm start`);
 * the CLI runs only when this file is the entry point.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ArgsError, USAGE, parseCliArgs } from './args.ts';
import { runSimulator } from './run.ts';

export { runSimulator } from './run.ts';
export type { Logger, PublishStats, RunSimulatorOptions, RunningSimulator } from './run.ts';
export type { BacklogLimit } from './backlog.ts';

function main(): void {
  let cli;
  try {
    cli = parseCliArgs(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof ArgsError)) throw err;
    console.error(`simulator: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (cli.help) {
    console.log(USAGE);
    return;
  }
  if (!cli.key) console.warn('[simulator] no publish key (HUB_PUBLISH_KEY or --key): a hub that has one will refuse our messages');

  const running = runSimulator({
    hubUrl: cli.hubUrl,
    key: cli.key,
    seed: cli.seed,
    rate: cli.rate,
    symbols: cli.symbols,
    speed: cli.speed,
    warm: cli.warm,
  });

  let signals = 0;
  const shutdown = (signal: string): void => {
    if (++signals > 1) process.exit(130); // a second Ctrl-C means now
    console.log(`[simulator] ${signal}: stopping`);
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('[simulator] error while stopping', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) main();
