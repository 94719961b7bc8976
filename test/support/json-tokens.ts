/**
 * An oracle for the text tickhub delivers a `data` as: the JSON's tokens, in order, joined without
 * the whitespace between them. A regular expression, independent of the hub's readers.
 */
const TOKEN = /"(?:[^"\\]|\\.)*"|[{}[\]:,]|[^\s{}[\]:,"]+/g;

/** Valid JSON `text` without whitespace between its tokens. */
export function compactOracle(text: string): string {
  return (text.match(TOKEN) ?? []).join('');
}
