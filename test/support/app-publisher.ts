/** A hub with a publish key and an app-mode publisher on it, welcomed, for tests of the publish ops. */
import { testConfig, type HubConfig } from '../../server/config.ts';
import { startHub } from '../../server/server.ts';
import { openSocket, type TestSocket } from './ws-client.ts';

export interface AppPublisher {
  pub: TestSocket;
  wsUrl: string;
  httpUrl: string;
  /** Closes the publisher, then the hub. */
  close(): Promise<void>;
}

export async function startAppPublisher(key: string, overrides: Partial<HubConfig> = {}): Promise<AppPublisher> {
  const running = await startHub(testConfig({ publishKey: key, ...overrides }));
  const pub = await openSocket(`${running.wsUrl}?token=${key}`, 'hub.v1');
  await pub.nextJson((f) => f.op === 'welcome');
  return {
    pub,
    wsUrl: running.wsUrl,
    httpUrl: running.httpUrl,
    close: async () => {
      pub.close();
      await running.close();
    },
  };
}
