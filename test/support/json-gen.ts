/**
 * Random JSON texts for the publish readers' tests: every kind of value, in every spelling JSON
 * allows (whitespace, escapes, number forms, key order, duplicate and digit keys).
 */
const NUMBERS = ['0', '-0', '7', '-12', '123456789012345', '1234567890123456', '12345678901234567890', '1.5', '-0.25', '1.50', '1.0', '1e3', '1E3', '2.5e-7', '1e400', '0.1', '1796297946566.123', '1796297946566.120', '5e-324'];
const STRINGS = ['', 'plain', 'é', '😀', '\\ud83d\\ude00', '\\u00e9', '\\u0041', '\\u001f', '\\u001F', '\\u0000', '\\n', '\\t', '\\b', '\\f', '\\r', '\\"', '\\\\', '\\/', '\\u000a', '\\ud800', 'a b', '\u2028'];

/** A JSON text of a random value, in any spelling (whitespace, escapes, number spellings, key order, duplicates). */
export function jsonText(rand: () => number, depth: number, maxDepth: number): string {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const space = (): string => (rand() < 0.05 ? pick([' ', '\n', '\t', '\r\n  ']) : '');
  const kind = depth >= maxDepth ? Math.floor(rand() * 4) : Math.floor(rand() * 6);
  switch (kind) {
    case 0:
      return pick(NUMBERS);
    case 1:
      return `"${pick(STRINGS)}${rand() < 0.3 ? pick(STRINGS) : ''}"`;
    case 2:
      return pick(['true', 'false', 'null']);
    case 3:
      return String(Math.floor(rand() * 1e6) / (rand() < 0.5 ? 1 : 1000));
    case 4: {
      const n = Math.floor(rand() * 4);
      const items = Array.from({ length: n }, () => space() + jsonText(rand, depth + 1, maxDepth) + space());
      return `[${items.join(',')}]`;
    }
    default: {
      const n = rand() < 0.05 ? 20 : Math.floor(rand() * 5);
      const keys = ['a', 'b', 'price', 'p', 's', 't', '1', '09', '-1', 'é', '\\u0061', '__proto__'];
      const members = Array.from({ length: n }, (_, k) => `${space()}"${n > 5 ? `k${k}` : pick(keys)}"${space()}:${space()}${jsonText(rand, depth + 1, maxDepth)}${space()}`);
      return `{${members.join(',')}}`;
    }
  }
}

