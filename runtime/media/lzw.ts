/**
 * The LZW compression of GIF image data (GIF89a, Appendix F): variable-length codes packed least significant bit
 * first, starting one bit wider than the minimum code size and growing to at most 12 bits; a clear code first and
 * whenever the code table fills, and the end-of-information code last.
 *
 * Code widths follow the decoder, which learns each string one code later than the encoder: after a code is
 * written while the next free code is already 2^width, the codes after it are one bit wider (the same point a
 * decoder widens at, after adding its entry for that code; giflib's encoder and decoder agree on it). The table
 * is cleared when the next free code reaches 4095, before the last 12-bit code is used, as giflib does, so no
 * decoder ever meets a full table.
 */

/** The widest GIF code. */
const MAX_CODE_BITS = 12;
/** The next free code at which the table is cleared. */
const CLEAR_AT = (1 << MAX_CODE_BITS) - 1;
/** Entries of the string table: a prefix code times the alphabet plus the appended index. */
const ALPHABET = 256;

/** Packs codes of varying width into bytes, least significant bit first. */
class BitWriter {
  private buffer = new Uint8Array(4096);
  private length = 0;
  private pending = 0;
  private pendingBits = 0;

  write(code: number, width: number): void {
    this.pending |= code << this.pendingBits;
    this.pendingBits += width;
    while (this.pendingBits >= 8) {
      this.push(this.pending & 0xff);
      this.pending >>>= 8;
      this.pendingBits -= 8;
    }
  }

  /** The bytes written, the last one padded with zero bits. */
  finish(): Uint8Array {
    if (this.pendingBits > 0) this.push(this.pending & 0xff);
    this.pending = 0;
    this.pendingBits = 0;
    return this.buffer.slice(0, this.length);
  }

  private push(byte: number): void {
    if (this.length === this.buffer.length) {
      const grown = new Uint8Array(this.buffer.length * 2);
      grown.set(this.buffer);
      this.buffer = grown;
    }
    this.buffer[this.length++] = byte;
  }
}

/**
 * A GIF LZW encoder. It keeps its string table (a trie of 4096 × 256 entries, 2 MiB) between calls, so one
 * encoder serves every frame of a video; only the entries a call used are reset.
 */
export class LzwEncoder {
  /** The code of (prefix code, index), or 0 where there is none (string codes start above the clear code). */
  private readonly table = new Uint16Array((1 << MAX_CODE_BITS) * ALPHABET);
  private readonly used: number[] = [];

  /**
   * The LZW data of `indices` (each below 2^minCodeSize), without the minimum-code-size byte and the sub-block
   * framing that surround it in a file.
   */
  encode(indices: Uint8Array, minCodeSize: number): Uint8Array {
    if (!(Number.isInteger(minCodeSize) && minCodeSize >= 2 && minCodeSize <= 8)) throw new RangeError(`the GIF minimum code size is 2 to 8, not ${minCodeSize}`);
    const clear = 1 << minCodeSize;
    const end = clear + 1;
    const out = new BitWriter();
    let width = minCodeSize + 1;
    let next = end + 1;
    const reset = (): void => {
      for (const slot of this.used) this.table[slot] = 0;
      this.used.length = 0;
      width = minCodeSize + 1;
      next = end + 1;
    };
    /** Writes a string's code, and widens the codes after it where the decoder will. */
    const emit = (code: number): void => {
      out.write(code, width);
      if (next >= 1 << width && width < MAX_CODE_BITS) width++;
    };

    reset();
    out.write(clear, width);
    if (indices.length === 0) {
      out.write(end, width);
      return out.finish();
    }
    for (let i = 0; i < indices.length; i++) {
      if (indices[i]! >= clear) throw new RangeError(`index ${indices[i]} at pixel ${i} does not fit the minimum code size ${minCodeSize}`);
    }
    let prefix = indices[0]!;
    for (let i = 1; i < indices.length; i++) {
      const index = indices[i]!;
      const slot = prefix * ALPHABET + index;
      const code = this.table[slot]!;
      if (code !== 0) {
        prefix = code;
        continue;
      }
      emit(prefix);
      if (next >= CLEAR_AT) {
        out.write(clear, width);
        reset();
      } else {
        this.table[slot] = next++;
        this.used.push(slot);
      }
      prefix = index;
    }
    emit(prefix);
    out.write(end, width);
    reset();
    return out.finish();
  }
}
