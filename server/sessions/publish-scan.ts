/**
 * The publish fast path: publishes in the shape producers send, read in one pass without
 * JSON.parse: a `pubs` frame `{"op":"pubs","id":N,"messages":[{"topic":"T","data":D},...]}`, a
 * `POST /api/publish` body `{"messages":[...]}`, a `pub` frame
 * `{"op":"pub","id":N,"topic":"T","data":D}` and a `POST /api/publish/<topic>` body (D itself).
 * Each `data` is validated as JSON (nested at most MAX_JSON_DEPTH levels) and taken as the text
 * it is delivered as (data-text.ts): its own text, or, when it has whitespace between tokens,
 * that text without it. No objects are built and nothing is serialised again. The common shape
 * (flat data, no whitespace) is checked by regexes, the rest by a character loop. Anything else
 * (another shape, invalid JSON, too deep, more than `maxMessages` items) gives null and takes the
 * general path, which answers it, and finds the same `data` text when it publishes.
 *
 * test/server/sessions/publish-scan.test.ts checks it against JSON.parse on generated and mutated
 * input: what it accepts, JSON.parse reads the same.
 */
import { MAX_JSON_DEPTH } from '../../protocol/limits.ts';
import { compactJson } from './data-text.ts';

export interface ScannedMessages {
  topics: string[];
  /** Each message's `data` as the text it is delivered as (data-text.ts). */
  data: string[];
}

export interface ScannedBatch extends ScannedMessages {
  id: number;
}

const HEAD = '{"op":"pubs","id":';
const MESSAGES = ',"messages":[';
const BODY_HEAD = '{"messages":[';
const PUB_HEAD = '{"op":"pub","id":';
const PUB_TOPIC = ',"topic":"';
const TOPIC = '{"topic":"';
const DATA = ',"data":';

/** The `pubs` request in `text`, or null when it is not one of the usual shape with at most `maxMessages` (see above). */
export function scanPubs(text: string, maxMessages: number): ScannedBatch | null {
  if (!text.startsWith(HEAD)) return null;
  let i = HEAD.length;
  const idEnd = skipDigits(text, i);
  if (!smallId(text, i, idEnd)) return null;
  const id = Number(text.slice(i, idEnd));
  i = idEnd;
  if (!text.startsWith(MESSAGES, i)) return null;
  const messages = scanMessages(text, i + MESSAGES.length, maxMessages);
  return messages && { id, topics: messages.topics, data: messages.data };
}

/** The same for a `POST /api/publish` body, `{"messages":[...]}` (whitespace around it allowed). */
export function scanBatchBody(text: string, maxMessages: number): ScannedMessages | null {
  const i = skipSpace(text, 0);
  return text.startsWith(BODY_HEAD, i) ? scanMessages(text, i + BODY_HEAD.length, maxMessages) : null;
}

/** A `pub` request in the usual shape, `{"op":"pub","id":N,"topic":"T","data":D}`, or null (see above). */
export function scanPub(text: string): { id: number; topic: string; data: string } | null {
  if (!text.startsWith(PUB_HEAD)) return null;
  let i = PUB_HEAD.length;
  const idEnd = skipDigits(text, i);
  if (!smallId(text, i, idEnd) || !text.startsWith(PUB_TOPIC, idEnd)) return null;
  const id = Number(text.slice(i, idEnd));
  i = idEnd + PUB_TOPIC.length;
  const topicEnd = skipPlainText(text, i);
  if (topicEnd < 0 || !text.startsWith(DATA, topicEnd + 1)) return null;
  const topic = text.slice(i, topicEnd);
  const data = dataAt(text, skipSpace(text, topicEnd + 1 + DATA.length));
  if (data === null) return null;
  i = skipSpace(text, dataEnd);
  return text.charCodeAt(i) === 125 && skipSpace(text, i + 1) === text.length ? { id, topic, data } : null;
}

/** A publish body that is `data` itself (`POST /api/publish/<topic>`), as delivered, or null (see above). */
export function scanData(text: string): string | null {
  const data = dataAt(text, skipSpace(text, 0));
  return data !== null && skipSpace(text, dataEnd) === text.length ? data : null;
}

/** The items of a `messages` array from `i` (after its `[`) to the end of `text`, which must close it and its object. */
function scanMessages(text: string, i: number, maxMessages: number): ScannedMessages | null {
  const topics: string[] = [];
  const data: string[] = [];
  for (;;) {
    i = skipSpace(text, i);
    const end = flatItemEnd(text, i);
    if (end > 0) {
      // The usual item, checked whole by the regex: only the slices are left to take.
      const topicStart = i + TOPIC.length;
      const topicEnd = text.indexOf('"', topicStart);
      topics.push(text.slice(topicStart, topicEnd));
      data.push(text.slice(topicEnd + 1 + DATA.length, end - 1));
      i = end;
    } else {
      if (!text.startsWith(TOPIC, i)) return null;
      i += TOPIC.length;
      const topicEnd = skipPlainText(text, i);
      if (topicEnd < 0 || !text.startsWith(DATA, topicEnd + 1)) return null;
      topics.push(text.slice(i, topicEnd));
      const json = dataAt(text, skipSpace(text, topicEnd + 1 + DATA.length));
      if (json === null) return null;
      data.push(json);
      i = skipSpace(text, dataEnd);
      if (text.charCodeAt(i++) !== 125) return null;
    }
    if (topics.length > maxMessages) return null;
    i = skipSpace(text, i);
    const next = text.charCodeAt(i++);
    if (next === 93) break;
    if (next !== 44) return null;
  }
  i = skipSpace(text, i);
  if (text.charCodeAt(i) !== 125) return null;
  return skipSpace(text, i + 1) === text.length ? { topics, data } : null;
}

/** A request id the reply echoes as written: a non-negative integer of at most 15 digits, no leading zero. */
function smallId(s: string, start: number, end: number): boolean {
  return end > start && end - start <= 15 && !(s.charCodeAt(start) === 48 && end - start > 1);
}

/**
 * The end of a topic string's text from `i` (after its opening quote): the index of its closing
 * quote, or -1. Topics are plain text here: no escapes (the general path decodes those), no
 * control characters.
 */
function skipPlainText(s: string, i: number): number {
  for (let c = s.charCodeAt(i); c !== 34; c = s.charCodeAt(++i)) if (!(c >= 32) || c === 92) return -1; // !(c >= 32) is also the end (NaN)
  return i;
}

/** Where the last `dataAt` value ended (module state, as `spaced`: no object per message). */
let dataEnd = 0;

/** The `data` value at `i` as delivered (its end in `dataEnd`), or null if invalid or too deep. */
function dataAt(s: string, i: number): string | null {
  const end = flatDataEnd(s, i);
  if (end > 0) {
    dataEnd = end;
    return s.slice(i, end);
  }
  spaced = false;
  dataEnd = skipValue(s, i, 1);
  if (dataEnd < 0) return null;
  return spaced ? compactJson(s, i, dataEnd) : s.slice(i, dataEnd);
}

/*
 * The shape most data has, a scalar or an object of scalars with no whitespace, as regexes: V8
 * runs them as native code, 3-4x faster than the character loop below for the same check. They
 * accept only valid JSON (the test checks them against JSON.parse); anything else they refuse,
 * and the loop reads it (nesting, whitespace), so they decide nothing but speed. Strings are
 * written unrolled (plain run, then escape and plain run) so the regex keeps no backtrack entry
 * per character.
 */
/** A run of string characters that need no escape: what skipPlainText reads as a topic. */
const PLAIN = String.raw`[^"\\\x00-\x1f]*`;
const STRING = String.raw`"${PLAIN}(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})${PLAIN})*"`;
const NUMBER = String.raw`-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?`;
const SCALAR = `(?:${STRING}|${NUMBER}|true|false|null)`;
const FLAT = `(?:\\{(?:${STRING}:${SCALAR}(?:,${STRING}:${SCALAR})*)?\\}|${SCALAR})`;
const FLAT_DATA = new RegExp(FLAT, 'y');
/** A whole batch item with a plain topic and flat data. */
const FLAT_ITEM = new RegExp(`\\{"topic":"${PLAIN}","data":${FLAT}\\}`, 'y');

/** The end of a whole batch item of the usual shape at `i` (`{"topic":"T","data":D}`, D flat, no whitespace), or -1. */
export const flatItemEnd = (s: string, i: number): number => matchEnd(FLAT_ITEM, s, i);

/** The end of a flat `data` at `i` (a scalar or an object of scalars, no whitespace), or -1. */
export const flatDataEnd = (s: string, i: number): number => matchEnd(FLAT_DATA, s, i);

/**
 * The end of `re`'s match at `i`, or -1. A string of millions of escapes can overflow the regex
 * engine's backtrack stack (a RangeError): that too is -1, and the loop reads it.
 */
function matchEnd(re: RegExp, s: string, i: number): number {
  re.lastIndex = i;
  try {
    return re.test(s) ? re.lastIndex : -1;
  } catch {
    return -1;
  }
}

/** Set by the scan of one `data` that has whitespace between tokens. One flag for the module: the scan is synchronous and not reentrant. */
let spaced = false;

/** JSON whitespace: allowed anywhere between tokens. */
function skipSpace(s: string, i: number): number {
  for (let c = s.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = s.charCodeAt(++i));
  return i;
}

/** skipSpace inside `data`, noting whitespace there (it is not delivered). */
function skipDataSpace(s: string, i: number): number {
  const j = skipSpace(s, i);
  if (j !== i) spaced = true;
  return j;
}

function skipDigits(s: string, i: number): number {
  for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i));
  return i;
}

/** The index after the JSON value at `i`, nested at `depth` (1: `data` itself), or -1 if invalid or too deep. */
function skipValue(s: string, i: number, depth: number): number {
  const c = s.charCodeAt(i);
  if (c === 34) return skipString(s, i);
  if (c === 123) return skipObject(s, i, depth);
  if (c === 91) return skipArray(s, i, depth);
  if (c === 45 || (c >= 48 && c <= 57)) return skipNumber(s, i);
  if (s.startsWith('true', i)) return i + 4;
  if (s.startsWith('false', i)) return i + 5;
  if (s.startsWith('null', i)) return i + 4;
  return -1;
}

function skipArray(s: string, i: number, depth: number): number {
  if (depth > MAX_JSON_DEPTH) return -1;
  i = skipDataSpace(s, i + 1);
  if (s.charCodeAt(i) === 93) return i + 1;
  for (;;) {
    i = skipValue(s, skipDataSpace(s, i), depth + 1);
    if (i < 0) return -1;
    i = skipDataSpace(s, i);
    const d = s.charCodeAt(i++);
    if (d === 93) return i;
    if (d !== 44) return -1;
  }
}

function skipObject(s: string, i: number, depth: number): number {
  if (depth > MAX_JSON_DEPTH) return -1;
  i = skipDataSpace(s, i + 1);
  if (s.charCodeAt(i) === 125) return i + 1;
  for (;;) {
    i = skipDataSpace(s, i);
    if (s.charCodeAt(i) !== 34) return -1;
    i = skipString(s, i);
    if (i < 0) return -1;
    i = skipDataSpace(s, i);
    if (s.charCodeAt(i) !== 58) return -1;
    i = skipValue(s, skipDataSpace(s, i + 1), depth + 1);
    if (i < 0) return -1;
    i = skipDataSpace(s, i);
    const e = s.charCodeAt(i++);
    if (e === 125) return i;
    if (e !== 44) return -1;
  }
}

/** A string: raw characters from U+0020 on except `"` and `\`, and the escapes JSON has. */
function skipString(s: string, i: number): number {
  for (i++; ; ) {
    const c = s.charCodeAt(i++);
    if (c === 34) return i;
    if (c === 92) {
      const e = s.charCodeAt(i++);
      if (e === 117) {
        if (!(isHex(s.charCodeAt(i)) && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2)) && isHex(s.charCodeAt(i + 3)))) return -1;
        i += 4;
      } else if (!(e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116)) return -1;
    } else if (!(c >= 32)) return -1; // a control character, or the end of the text (NaN)
  }
}

const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);

/** A number: `-`? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?. */
function skipNumber(s: string, i: number): number {
  if (s.charCodeAt(i) === 45) i++;
  const first = s.charCodeAt(i);
  if (first === 48) i++;
  else if (first >= 49 && first <= 57) i = skipDigits(s, i + 1);
  else return -1;
  if (s.charCodeAt(i) === 46) {
    const fraction = i + 1;
    i = skipDigits(s, fraction);
    if (i === fraction) return -1;
  }
  const e = s.charCodeAt(i);
  if (e === 101 || e === 69) {
    const sign = s.charCodeAt(i + 1);
    const digits = sign === 43 || sign === 45 ? i + 2 : i + 1;
    i = skipDigits(s, digits);
    if (i === digits) return -1;
  }
  return i;
}
