/**
 * CRC-32 (IEEE 802.3, the one of zlib, PNG and Kraken's book checksum) of an ASCII string. A
 * small table implementation because protocol/ runs in the browser too, where node:zlib does not
 * exist; test/protocol/crc32.test.ts checks it against node:zlib's `crc32`.
 */

/** Signed 32-bit entries: the loop then stays in small integers, which engines run fastest. */
const TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-32 of `text`, an unsigned 32-bit integer. Throws on a non-ASCII character (no encoding to agree on). */
export function crc32(text: string): number {
  let crc = -1;
  let ascii = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    crc = TABLE[(crc ^ code) & 0xff] ^ (crc >>> 8);
    ascii |= code;
  }
  if (ascii > 0x7f) throw new RangeError('crc32: the text must be ASCII');
  return (crc ^ -1) >>> 0;
}
