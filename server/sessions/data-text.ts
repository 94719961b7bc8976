/**
 * The text a publish's `data` is delivered as: the publisher's own JSON, with only the whitespace
 * between its tokens removed (docs/protocol.md, "How data is delivered"). Numbers, escapes and key
 * order stay as written, so an id beyond 2^53 or a price written `1.50` reaches subscribers as
 * sent, and a message is always one line (SSE and line mode depend on it).
 *
 * publish-scan.ts takes that text while it validates the usual shapes. For a request it leaves to
 * JSON.parse (another key order, escaped keys, ...), `memberText` and `itemDataTexts` find the
 * same text in the already-parsed request: they walk its text without building anything and
 * without recursion, so a request nested deep somewhere JSON.parse allowed cannot overflow the
 * stack here. Given anything but valid JSON they still end (every loop stops at the text's end),
 * with a meaningless result.
 */

/** `s[start, end)`, valid JSON, without whitespace between tokens (the slice itself when it has none). */
export function compactJson(s: string, start: number, end: number): string {
  let out = '';
  let run = start;
  for (let i = start; i < end; ) {
    const c = s.charCodeAt(i);
    if (c === 34) i = stringEnd(s, i);
    else if (isSpace(c)) {
      out += s.slice(run, i);
      i = skipSpace(s, i);
      run = i;
    } else i++;
  }
  return run === start ? s.slice(start, end) : out + s.slice(run, end);
}

/**
 * The compact text of the top-level member `key` of `text`, a valid JSON object (JSON.parse
 * accepted it); undefined when it has none. Of duplicate keys the last counts, as for JSON.parse.
 */
export function memberText(text: string, key: string): string | undefined {
  const span = memberSpan(text, skipSpace(text, 0), key);
  return span && compactJson(text, span[0], span[1]);
}

/**
 * For `text`, a valid JSON object with a `messages` array, the compact `data` text of each item,
 * in order; undefined for an item that is no object or has no `data` (the caller refuses those).
 */
export function itemDataTexts(text: string): Array<string | undefined> {
  const texts: Array<string | undefined> = [];
  const span = memberSpan(text, skipSpace(text, 0), 'messages');
  if (!span || text.charCodeAt(span[0]) !== 91) return texts;
  let i = skipSpace(text, span[0] + 1);
  if (text.charCodeAt(i) === 93) return texts;
  while (i < text.length) {
    const data = memberSpan(text, i, 'data');
    texts.push(data && compactJson(text, data[0], data[1]));
    i = skipSpace(text, valueEnd(text, i));
    if (text.charCodeAt(i) !== 44) break; // `]`: the last item
    i = skipSpace(text, i + 1);
  }
  return texts;
}

/** [start, end) of the value of the last member `key` of the object at `i`; undefined if none, or if no object is there. */
function memberSpan(s: string, i: number, key: string): [number, number] | undefined {
  if (s.charCodeAt(i) !== 123) return undefined;
  let found: [number, number] | undefined;
  i = skipSpace(s, i + 1);
  if (s.charCodeAt(i) === 125) return undefined;
  while (s.charCodeAt(i) === 34) {
    const keyEnd = stringEnd(s, i);
    const name = s.slice(i + 1, keyEnd - 1);
    const isKey = name.includes('\\') ? JSON.parse(s.slice(i, keyEnd)) === key : name === key;
    const start = skipSpace(s, skipSpace(s, keyEnd) + 1); // past the `:`
    const end = valueEnd(s, start);
    if (isKey) found = [start, end];
    i = skipSpace(s, end);
    if (s.charCodeAt(i) !== 44) break; // `}`
    i = skipSpace(s, i + 1);
  }
  return found;
}

/** The index after the (valid) JSON value at `i`: brackets counted, strings skipped. */
function valueEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 34) return stringEnd(s, i);
  if (c !== 123 && c !== 91) {
    for (let d = s.charCodeAt(i); !(d === 44 || d === 125 || d === 93 || isSpace(d) || Number.isNaN(d)); d = s.charCodeAt(++i));
    return i;
  }
  let depth = 0;
  while (i < s.length) {
    const d = s.charCodeAt(i);
    if (d === 34) {
      i = stringEnd(s, i);
      continue;
    }
    i++;
    if (d === 123 || d === 91) depth++;
    else if ((d === 125 || d === 93) && --depth === 0) return i;
  }
  return i;
}

/** The index after the (valid) string whose opening quote is at `i`. */
function stringEnd(s: string, i: number): number {
  for (i++; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 34) return i + 1;
  }
  return s.length;
}

const isSpace = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9;

function skipSpace(s: string, i: number): number {
  while (isSpace(s.charCodeAt(i))) i++;
  return i;
}
