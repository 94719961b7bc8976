/**
 * Subscriptions that follow the selected symbol (its trades, its book): selecting another symbol
 * unsubscribes the old topic and subscribes the new one, with a snapshot so its panel fills at once.
 */
import type { HubClient, SubscribeOptions } from '../../client/hub-client.ts';
import type { HubMessage } from '../../protocol/wire.ts';

export class FollowSymbol {
  private stop: (() => void) | null = null;
  private symbol: string | null = null;

  constructor(
    private readonly hub: HubClient,
    private readonly topicOf: (symbol: string) => string,
    private readonly onMessage: (msg: HubMessage, symbol: string) => void,
    private readonly options: SubscribeOptions,
  ) {}

  /** The symbol followed, null before the first `follow`. */
  get following(): string | null {
    return this.symbol;
  }

  /** Follow `symbol`'s topic (no-op when already following it). */
  follow(symbol: string): void {
    if (symbol === this.symbol) return;
    this.stop?.();
    this.symbol = symbol;
    this.stop = this.hub.subscribe(
      this.topicOf(symbol),
      (msg) => {
        if (this.symbol === symbol) this.onMessage(msg, symbol);
      },
      this.options,
    );
  }
}
