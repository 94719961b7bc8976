/**
 * The publish fast path: publishes in the shape producers send, read in one pass without
 * JSON.parse: a `pubs` frame `{"op":"pubs","id":N,"messages":[{"topic":"T","data":D},...]}`, a
 * `POST /api/publish` body `{"messages":[...]}`, a `pub` frame
 * `{"op":"pub","id":N,"topic":"T","data":D}` and a `POST /api/publish/<topic>` body (D itself).
 * Each `data` is validated as JSON, and when it is already written exactly as
 * `JSON.stringify(JSON.parse(D))` would write it (no whitespace, no escape or number spelling the
 * serialiser would change, keys it would keep in order), its own text goes into the envelope: no
 * objects built, nothing serialised again. At 160k msg/s in batches of 100 market ticks this cut
 * a message's server CPU by a quarter; a number of 16-17 digits is checked by printing it back,
 * which costs about what parsing it did. A valid `data` written otherwise is parsed and
 * re-serialised alone. Anything else (another shape, invalid JSON, a nesting deeper than
 * MAX_JSON_DEPTH, more than `maxMessages` items) gives null and takes the general path, which
 * answers it as before.
 *
 * What it accepts yields the topics and `data` texts that parsing and re-serialising would:
 * test/server/sessions/publish-scan.test.ts checks this against JSON.parse and JSON.stringify on
 * generated and mutated input.
 */
import { MAX_JSON_DEPTH } from '../../protocol/limits.ts';

export interface ScannedMessages {
  topics: string[];
  /** Each message's `data` as the JSON text JSON.stringify writes for it. */
  data: string[];
}

export interface ScannedBatch extends ScannedMessages {
  id: number;
}

/** Objects with more keys than this are re-serialised (the duplicate-key check is quadratic). */
const MAX_FAST_KEYS = 16;

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

/** A publish body that is `data` itself (`POST /api/publish/<topic>`), as JSON.stringify writes it, or null (see above). */
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
    if (!text.startsWith(TOPIC, i)) return null;
    i += TOPIC.length;
    const topicEnd = skipPlainText(text, i);
    if (topicEnd < 0 || !text.startsWith(DATA, topicEnd + 1)) return null;
    topics.push(text.slice(i, topicEnd));
    const json = dataAt(text, skipSpace(text, topicEnd + 1 + DATA.length));
    if (json === null) return null;
    data.push(json);
    i = skipSpace(text, dataEnd);
    if (text.charCodeAt(i) !== 125 || topics.length > maxMessages) return null;
    i = skipSpace(text, i + 1);
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

/** Where the last `dataAt` value ended (module state, as `canonical`: no object per message). */
let dataEnd = 0;

/** The `data` value at `i` as JSON.stringify writes it (its end in `dataEnd`), or null if invalid or too deep. */
function dataAt(s: string, i: number): string | null {
  canonical = true;
  dataEnd = skipValue(s, i, 1);
  if (dataEnd < 0) return null;
  return canonical ? s.slice(i, dataEnd) : reserialised(s.slice(i, dataEnd));
}

/**
 * Cleared by the scan of one `data` when something in it is valid JSON but not as JSON.stringify
 * writes it. One flag for the module: the scan is synchronous and not reentrant.
 */
let canonical = true;

/** `json` (valid JSON) as JSON.stringify writes it; null if JSON.parse disagrees that it is valid. */
function reserialised(json: string): string | null {
  try {
    return JSON.stringify(JSON.parse(json));
  } catch {
    return null;
  }
}

/** JSON whitespace: allowed anywhere between tokens; inside `data`, JSON.stringify writes none. */
function skipSpace(s: string, i: number): number {
  for (let c = s.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = s.charCodeAt(++i));
  return i;
}

/** skipSpace inside `data`: any whitespace there is not canonical. */
function skipDataSpace(s: string, i: number): number {
  const j = skipSpace(s, i);
  if (j !== i) canonical = false;
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

/**
 * An object. Canonical only if JSON.stringify would write its keys back in the same order: no
 * duplicates (the last would win), none starting with a digit (integer-like keys move first).
 */
function skipObject(s: string, i: number, depth: number): number {
  if (depth > MAX_JSON_DEPTH) return -1;
  i = skipDataSpace(s, i + 1);
  if (s.charCodeAt(i) === 125) return i + 1;
  const keys: number[] = []; // [start, end) of each key's text, quotes included, while canonical
  for (;;) {
    i = skipDataSpace(s, i);
    if (s.charCodeAt(i) !== 34) return -1;
    const keyEnd = skipString(s, i);
    if (keyEnd < 0) return -1;
    if (canonical) {
      const first = s.charCodeAt(i + 1);
      if ((first >= 48 && first <= 57) || keys.length >= 2 * MAX_FAST_KEYS) canonical = false;
      else for (let k = 0; k < keys.length; k += 2) if (sameText(s, keys[k], keys[k + 1], i, keyEnd)) canonical = false;
      keys.push(i, keyEnd);
    }
    i = skipDataSpace(s, keyEnd);
    if (s.charCodeAt(i) !== 58) return -1;
    i = skipValue(s, skipDataSpace(s, i + 1), depth + 1);
    if (i < 0) return -1;
    i = skipDataSpace(s, i);
    const e = s.charCodeAt(i++);
    if (e === 125) return i;
    if (e !== 44) return -1;
  }
}

function sameText(s: string, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (; a < aEnd; a++, b++) if (s.charCodeAt(a) !== s.charCodeAt(b)) return false;
  return true;
}

/**
 * A string. Canonical as JSON.stringify writes it: raw characters from U+0020 on except `"` and
 * `\` (surrogates only in pairs), and only the escapes it uses: `\"` `\\` `\b` `\f` `\n` `\r` `\t`,
 * and `\u00xx` (lower-case hex) for the other control characters.
 */
function skipString(s: string, i: number): number {
  for (i++; ; ) {
    const c = s.charCodeAt(i++);
    if (c === 34) return i;
    if (c === 92) {
      const e = s.charCodeAt(i++);
      if (e === 117) {
        const h0 = hexDigit(s.charCodeAt(i));
        const h1 = hexDigit(s.charCodeAt(i + 1));
        const h2 = hexDigit(s.charCodeAt(i + 2));
        const h3 = hexDigit(s.charCodeAt(i + 3));
        if ((h0 | h1 | h2 | h3) < 0) return -1;
        const code = (h0 << 12) | (h1 << 8) | (h2 << 4) | h3;
        if (!(code < 32) || code === 8 || code === 9 || code === 10 || code === 12 || code === 13 || lowerHexDigits(s, i) !== 4) canonical = false;
        i += 4;
      } else if (e === 98 || e === 102 || e === 110 || e === 114 || e === 116 || e === 34 || e === 92) {
        // the escapes JSON.stringify writes
      } else if (e === 47) canonical = false; // `\/`: valid, but written as `/`
      else return -1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      // A lone surrogate cannot come out of UTF-8, but if one did, JSON.stringify would escape it.
      const low = s.charCodeAt(i);
      if (c < 0xdc00 && low >= 0xdc00 && low <= 0xdfff) i++;
      else canonical = false;
    } else if (!(c >= 32)) return -1; // a control character, or the end of the text (NaN)
  }
}

/** 0-15 for a hex digit, else -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** How many of the four hex digits at `i` are not upper-case (JSON.stringify writes lower case). */
function lowerHexDigits(s: string, i: number): number {
  let n = 0;
  for (let k = i; k < i + 4; k++) {
    const c = s.charCodeAt(k);
    if (!(c >= 65 && c <= 70)) n++;
  }
  return n;
}

/**
 * Whether the number [start, end) (integer part to intEnd, fraction to fracEnd) is one JSON.stringify
 * writes as is, seen without converting it: no exponent, at most 15 significant digits (each such
 * decimal is the shortest that reads back as its double), no trailing zero in the fraction, not
 * `-0`, and not below 1 with a fraction that starts with a zero (0.0000001 is written 1e-7).
 */
function shortDecimal(s: string, start: number, intEnd: number, fracEnd: number, end: number): boolean {
  if (fracEnd !== end) return false; // an exponent
  const negative = s.charCodeAt(start) === 45;
  const intDigits = intEnd - start - (negative ? 1 : 0);
  const zeroInt = intDigits === 1 && s.charCodeAt(intEnd - 1) === 48;
  if (end === intEnd) return intDigits <= 15 && !(negative && zeroInt);
  const fracDigits = end - intEnd - 1;
  if (s.charCodeAt(end - 1) === 48) return false; // a trailing zero
  if (zeroInt) return s.charCodeAt(intEnd + 1) !== 48 && fracDigits <= 15;
  return intDigits + fracDigits <= 15;
}

/**
 * A number. Canonical as JSON.stringify writes it: see shortDecimal; any other is printed back to see.
 */
function skipNumber(s: string, i: number): number {
  const start = i;
  if (s.charCodeAt(i) === 45) i++;
  const first = s.charCodeAt(i);
  if (first === 48) i++;
  else if (first >= 49 && first <= 57) i = skipDigits(s, i + 1);
  else return -1;
  const intEnd = i;
  if (s.charCodeAt(i) === 46) {
    i = skipDigits(s, i + 1);
    if (i === intEnd + 1) return -1;
  }
  const fracEnd = i;
  const e = s.charCodeAt(i);
  if (e === 101 || e === 69) {
    const sign = s.charCodeAt(i + 1);
    const digits = sign === 43 || sign === 45 ? i + 2 : i + 1;
    i = skipDigits(s, digits);
    if (i === digits) return -1;
  }
  if (canonical && !shortDecimal(s, start, intEnd, fracEnd, i)) {
    const literal = s.slice(start, i);
    if (String(Number(literal)) !== literal) canonical = false;
  }
  return i;
}
