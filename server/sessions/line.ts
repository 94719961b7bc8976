/**
 * Line mode: the original chat on `/ws`, for humans with wscat. A line is chat unless it starts
 * with `/`, which makes it a command. Hub replies start with `* `, errors with `! `.
 */
import { escapeControls } from '../../protocol/chat.ts';
import { CloseCode, type Connection } from '../core/connection.ts';
import { HubError } from '../../protocol/errors.ts';
import { renderChatLine, type ChatService } from '../chat/chat.ts';
import type { Hub } from '../core/hub.ts';
import { checkPublish } from '../core/principal.ts';
import type { Session } from './session.ts';

export interface LineCommand {
  name: string;
  arg: string;
}

/** Split a `/command arg` line; null if the line is chat. */
export function parseCommand(line: string): LineCommand | null {
  if (!line.startsWith('/')) return null;
  const body = line.slice(1).trim();
  const space = body.search(/\s/);
  if (space === -1) return { name: body.toLowerCase(), arg: '' };
  return { name: body.slice(0, space).toLowerCase(), arg: body.slice(space + 1).trim() };
}

const HELP = [
  '* commands:',
  '*   /nick NAME       change your nick',
  '*   /who             who is in chat',
  '*   /sub PATTERN     receive topic messages as JSON lines (e.g. /sub ticks.*)',
  '*   /unsub PATTERN   stop them',
  '*   /topics          topics with subscribers and rates',
  '*   /help            this list',
  '* anything else is a chat line for everyone else in chat',
].join('\n');

/** Topics `/topics` lists; the rest are counted and left to GET /api/topics (pages). */
const LINE_TOPICS = 50;

export class LineSession implements Session {
  /** Tail of the line queue: the join first, then each line after the one before it. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Lines received and not yet finished (MAX_QUEUED_LINES bounds those waiting). */
  private pending = 0;

  constructor(
    private readonly hub: Hub,
    private readonly chat: ChatService,
    private readonly conn: Connection,
  ) {}

  start(): void {
    // The nick registry is cluster-wide (the broker's presence), hence asynchronous.
    this.tail = this.chat.join(this.conn).then(
      (nick: string) => {
        this.reply(`* welcome to tickhub, you are ${nick}. /help lists commands.`);
        // Recent chat first, then live chat, in that order and without a gap.
        this.hub
          .subscribe(this.conn, 'chat', { render: renderChatLine, skipOwn: true, snapshot: this.hub.config.chatBacklog })
          .catch((err) => this.hub.logError(err, this.conn));
      },
      (err: unknown) => {
        this.reply(`! ${err instanceof HubError ? err.message : 'internal error'}`);
        this.conn.close(CloseCode.serviceRestart, 'chat unavailable');
      },
    );
  }

  onText(text: string): void {
    const line = text.replace(/\r?\n$/, '');
    if (line.trim() === '') return;
    const { maxQueuedLines } = this.hub.config;
    // One running, the rest waiting: refuse beyond the bound, saying which line was dropped.
    if (this.pending > maxQueuedLines) {
      return this.reply(`! too many lines waiting (more than ${maxQueuedLines}, MAX_QUEUED_LINES); not run: ${escapeControls(line.slice(0, 40))}${line.length > 40 ? '...' : ''}`);
    }
    this.pending++;
    const command = parseCommand(line);
    // In order: each line starts when the previous one has finished (renames must not interleave).
    const work = this.tail.then(() => {
      if (this.conn.closed) return; // the client left: what it queued is void
      return command ? this.run(command) : this.say(line);
    });
    this.tail = work.then(
      () => this.pending--,
      (err: unknown) => {
        this.pending--;
        if (err instanceof HubError) this.reply(`! ${err.message}`);
        else {
          this.hub.logError(err, this.conn);
          this.reply('! internal error');
        }
      },
    );
  }

  private async say(line: string): Promise<void> {
    await this.hub.publish(checkPublish('chat', this.conn.principal), { text: line }, this.conn);
  }

  private async run({ name, arg }: LineCommand): Promise<void> {
    const { hub, chat, conn } = this;
    switch (name) {
      case 'nick':
        if (!arg) throw new HubError('bad_request', 'usage: /nick NAME');
        await chat.rename(conn, arg);
        return this.reply(`* you are now ${arg}`);
      case 'who':
        return this.reply(`* in chat: ${(await chat.nicks()).join(', ')}`);
      case 'sub':
        if (!arg) throw new HubError('bad_request', 'usage: /sub PATTERN (e.g. /sub ticks.*)');
        if (arg === 'chat') throw new HubError('bad_request', 'you are in chat already');
        await hub.subscribe(conn, arg, { accepted: () => this.reply(`* subscribed to ${arg}`) });
        return;
      case 'unsub':
        if (!arg) throw new HubError('bad_request', 'usage: /unsub PATTERN');
        if (arg === 'chat' || !hub.unsubscribe(conn, arg)) throw new HubError('not_subscribed', `not subscribed to '${arg}'`);
        return this.reply(`* unsubscribed from ${arg}`);
      case 'topics': {
        const { topics, total } = await hub.topics({ limit: LINE_TOPICS });
        if (topics.length === 0) return this.reply('* no topics yet');
        const rows = topics.map((t) => `*   ${t.topic}  subscribers=${t.subscribers} messages=${t.messages} rate=${t.rate}/s`);
        if (total > topics.length) rows.push(`* ... and ${total - topics.length} more, see /api/topics`);
        return this.reply(['* topics:', ...rows].join('\n'));
      }
      case 'help':
        return this.reply(HELP);
      default:
        throw new HubError('unknown_op', `unknown command '/${name.slice(0, 32)}'; /help lists commands`);
    }
  }

  private reply(text: string): void {
    this.conn.sendText(text);
  }
}
