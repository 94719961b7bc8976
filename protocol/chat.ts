/**
 * The one chat rule, applied on every path into topic `chat` (line mode, app `pub`, HTTP
 * publish): what a nick may be, how long a line may be, which characters are refused, and that
 * clients never send `kind` (join/leave/nick lines are the hub's own). Pure; no Node APIs.
 */

import { MAX_CHAT_TEXT, MAX_NICK_LENGTH } from './limits.ts';

const NICK_RE = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_NICK_LENGTH}}$`);

/**
 * C0 controls (newline, ESC...), DEL, C1 controls and the bidi embeddings, overrides and
 * isolates: each lets a chat line imitate hub output in a terminal or reorder what others read.
 */
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const CONTROL_RE_ALL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** A refused chat message: a message naming the problem. */
export type ChatProblem = string;

/** Null if `nick` is a valid nick, else what is wrong with it. */
export function nickProblem(nick: unknown): ChatProblem | null {
  if (typeof nick !== 'string' || !NICK_RE.test(nick)) return `nick must be 1-${MAX_NICK_LENGTH} characters of A-Z a-z 0-9 _ -`;
  return null;
}

/** What a client sent as chat, once checked: the text, and the nick it asked to speak under, if any. */
export interface ChatRequest {
  text: string;
  nick?: string;
}

/**
 * Check client chat data `{text, nick?}`. Returns the checked request or the problem.
 *
 * @example
 * const checked = checkChatData({ nick: 'alice', text: 'hi' }); // { ok: true, chat: {...} }
 */
export function checkChatData(data: unknown): { ok: true; chat: ChatRequest } | { ok: false; problem: ChatProblem } {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { ok: false, problem: "chat data must be an object {nick?, text}" };
  const d = data as Record<string, unknown>;
  if ('kind' in d) return { ok: false, problem: "chat 'kind' is set by the hub only (join, leave and nick lines are its own); send {nick?, text}" };
  if (typeof d.text !== 'string' || d.text.length === 0) return { ok: false, problem: "chat data needs a non-empty 'text' string" };
  if (d.text.length > MAX_CHAT_TEXT) return { ok: false, problem: `chat lines are limited to ${MAX_CHAT_TEXT} characters` };
  if (CONTROL_RE.test(d.text)) return { ok: false, problem: 'chat text may not contain control characters (newlines, escapes, DEL, C1, bidi overrides)' };
  if (d.nick === undefined) return { ok: true, chat: { text: d.text } };
  const bad = nickProblem(d.nick);
  if (bad) return { ok: false, problem: `chat 'nick': ${bad}` };
  return { ok: true, chat: { text: d.text, nick: d.nick as string } };
}

/** Make any control character visible (`\u001b`), so stored or foreign chat cannot drive a terminal. */
export function escapeControls(text: string): string {
  return text.replace(CONTROL_RE_ALL, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
