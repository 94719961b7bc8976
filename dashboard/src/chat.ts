/**
 * Operator chat console: the same room as the `/ws` line-mode chat (topic `chat`).
 * The nick is persisted in localStorage; Enter in the input sends. The hub claims the nick for
 * this connection when it chats; if someone else holds it, the refusal's text is shown.
 */
import type { HubMessage } from '../../protocol/wire.ts';
import type { ChatData } from '../../protocol/wire.ts';
import { el } from './dom.ts';
import { fmtTime } from './format.ts';

const NICK_KEY = 'tickhub.nick';
const MAX_LINES = 500;
const NICK_RE = /[^A-Za-z0-9_-]/g;

export interface ChatElements {
  log: HTMLElement;
  input: HTMLInputElement;
  nick: HTMLInputElement;
  form: HTMLFormElement;
}

type Publish = (data: ChatData) => Promise<{ seq: number; ts: number }>;

function cleanNick(raw: string): string {
  return raw.replace(NICK_RE, '').slice(0, 24);
}

function loadNick(): string {
  try {
    const saved = cleanNick(localStorage.getItem(NICK_KEY) ?? '');
    if (saved) return saved;
  } catch {
    /* storage disabled */
  }
  return `op-${Math.floor(1000 + Math.random() * 9000)}`;
}

/** Stable hue per nick so speakers are easy to tell apart. */
function nickHue(nick: string): number {
  let h = 0;
  for (let i = 0; i < nick.length; i++) h = (h * 31 + nick.charCodeAt(i)) >>> 0;
  return h % 360;
}

function isChatData(v: unknown): v is ChatData {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Record<string, unknown>;
  return typeof d.nick === 'string' && typeof d.text === 'string';
}

/**
 * Identity of a chat line across hub restarts (seqs start over in a new epoch): hub time, nick,
 * kind and text. Our own lines are shown on the publish ack and may also come back as messages;
 * after a reset the hub may replay lines already shown.
 */
function lineKey(data: ChatData, ts: number): string {
  return `${ts}\u0000${data.nick}\u0000${data.kind ?? ''}\u0000${data.text}`;
}

export class ChatConsole {
  /** Keys (`lineKey`) of the lines shown, oldest first in `shownOrder`. */
  private readonly shown = new Set<string>();
  private readonly shownOrder: string[] = [];

  constructor(
    private readonly els: ChatElements,
    private readonly publish: Publish,
  ) {
    els.nick.value = loadNick();
    this.saveNick();
    els.nick.addEventListener('input', () => {
      const clean = cleanNick(els.nick.value);
      if (clean !== els.nick.value) els.nick.value = clean;
    });
    els.nick.addEventListener('change', () => this.saveNick());
    els.nick.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        this.saveNick();
        els.input.focus();
      }
    });
    els.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.send();
    });
    els.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.isComposing) {
        ev.preventDefault();
        void this.send();
      }
    });
  }

  get nick(): string {
    return cleanNick(this.els.nick.value) || 'operator';
  }

  /** A message on topic `chat`. */
  onMessage(msg: HubMessage): void {
    if (!isChatData(msg.data)) return;
    const key = lineKey(msg.data, msg.ts);
    if (this.shown.has(key)) return;
    this.remember(key);
    this.append(msg.data, msg.ts);
  }

  /** A local status line (not sent). */
  system(text: string, kind: 'info' | 'error' = 'info'): void {
    const line = el('div', { class: `chat-line sys ${kind}` }, el('time', {}, fmtTime(Date.now())), el('span', { class: 'text' }, text));
    this.push(line);
  }

  private saveNick(): void {
    const nick = this.nick;
    if (this.els.nick.value !== nick) this.els.nick.value = nick;
    try {
      localStorage.setItem(NICK_KEY, nick);
    } catch {
      /* storage disabled */
    }
  }

  private async send(): Promise<void> {
    const text = this.els.input.value.trim();
    if (!text) return;
    const data: ChatData = { nick: this.nick, text };
    this.els.input.value = '';
    try {
      const { ts } = await this.publish(data);
      const key = lineKey(data, ts);
      if (!this.shown.has(key)) {
        this.remember(key);
        this.append(data, ts);
      }
    } catch (err) {
      this.els.input.value ||= text; // give the text back unless the user typed on
      this.system(`not sent: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
  }

  private remember(key: string): void {
    this.shown.add(key);
    this.shownOrder.push(key);
    if (this.shownOrder.length > MAX_LINES * 2) this.shown.delete(this.shownOrder.shift()!);
  }

  private append(data: ChatData, ts: number): void {
    const time = el('time', { datetime: new Date(ts).toISOString() }, fmtTime(ts));
    const nick = el('span', { class: 'nick' }, data.nick);
    nick.style.color = `hsl(${nickHue(data.nick)} 70% 68%)`;
    let line: HTMLElement;
    if (data.kind) {
      // Presence: the hub sends the subject as `nick` and the rest as `text` ("joined", "was guest-3").
      const text = data.text || (data.kind === 'join' ? 'joined' : data.kind === 'leave' ? 'left' : 'changed nick');
      nick.classList.add('subject');
      line = el('div', { class: 'chat-line presence', 'data-kind': data.kind }, time, el('span', { class: 'text' }, nick, ` ${text}`));
    } else {
      line = el('div', { class: 'chat-line' }, time, nick, el('span', { class: 'text' }, data.text));
      if (data.nick === this.nick) line.classList.add('mine');
    }
    this.push(line);
  }

  private push(line: HTMLElement): void {
    const log = this.els.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    log.append(line);
    while (log.childElementCount > MAX_LINES) log.firstElementChild!.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
}
