/**
 * CRC-32 as PNG chunks carry it (ISO 3309 / ITU-T V.42: the reflected polynomial 0xEDB88320, initial value and
 * final XOR 0xFFFFFFFF), table-driven a byte at a time. Ours rather than node:zlib's because `zlib.crc32` only
 * exists from Node 20.15 and 22.2, and this package runs on every Node from 20.
 */

/** The remainder of each byte value, computed once. */
const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * Continues a CRC over `bytes`: start from 0 for a fresh CRC, or pass the result of the previous call to take in
 * more bytes (a PNG chunk's CRC covers its type and then its data).
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  let c = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
