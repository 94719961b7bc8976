/**
 * CRC-32 (IEEE 802.3, the one of zlib, PNG and Kraken's book checksum) of an ASCII string. A
 * small table implementation because protocol/ runs in the browser too, where node:zlib does not
 * exist; test/protocol/crc32.test.ts checks it against node:zlib's `crc32`.
 */

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 of `text`, an unsigned 32-bit integer. Throws on a non-ASCII character (no encoding to agree on). */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) throw new RangeError(`crc32: non-ASCII character at ${i}`);
    crc = TABLE[(crc ^ code) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
