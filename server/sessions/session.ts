/** What the edge hands every inbound text frame to: one implementation per connection mode. */
export interface Session {
  /** Called once the socket is open and registered. */
  start(): void;
  /** One text frame, already UTF-8 checked and size-limited by `ws`. */
  onText(text: string): void;
}
