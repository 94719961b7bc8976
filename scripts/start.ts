/**
 * `npm start [-- --no-warm]`: the whole product in one process — hub (serving the built
 * dashboard) plus the market simulator publishing into it, starting with a seeded history cut to
 * the hub's HISTORY rules (`--no-warm`: live data only). Generates a publish key for its own
 * simulator when HUB_PUBLISH_KEY is unset.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from '../server/config.ts';
import { createLogger } from '../server/observability/log.ts';
import { startHub } from '../server/server.ts';
import { runSimulator } from '../simulator/main.ts';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--no-warm');
  if (unknown.length) throw new ConfigError(`unknown argument ${unknown[0]} (npm start takes only --no-warm; settings are environment variables)`);
  const env = { ...process.env };
  const generatedKey = !env.HUB_PUBLISH_KEY;
  env.HUB_PUBLISH_KEY ||= randomBytes(18).toString('base64url');
  const config = loadConfig(env);
  const log = createLogger(config.logLevel);
  const hub = await startHub(config, { log });
  const simLog = log.child({ component: 'simulator' });
  const simulator = runSimulator({
    hubUrl: hub.wsUrl,
    key: config.publishKey!,
    warm: args.includes('--no-warm') ? false : { retention: config.retention },
    logger: { info: (m) => simLog.info(m), warn: (m) => simLog.warn(m), error: (m) => simLog.error(m) },
  });
  const shown = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const base = `${shown}:${hub.port}`;
  console.log(
    [
      '',
      `  tickhub is up`,
      `    dashboard   http://${base}/`,
      `    chat        wscat -c ws://${base}/ws`,
      `    tap         wscat -c 'ws://${base}/ws/ticks.*'`,
      `    topics      curl http://${base}/api/topics`,
      `    publish key ${generatedKey ? `${config.publishKey} (generated for this run; set HUB_PUBLISH_KEY to choose one)` : 'from HUB_PUBLISH_KEY'}`,
      '',
    ].join('\n'),
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), 5000).unref();
    await simulator.stop();
    await hub.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? `tickhub: ${err.message}` : err);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
