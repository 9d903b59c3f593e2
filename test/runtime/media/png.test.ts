/**
 * runtime/media/png.ts and crc32.ts: the CRC against its published check values and a bitwise oracle; the PNG
 * byte for byte for a 1×1 image at deflate level 0 (every byte reasoned from the specification); and images of
 * every kind read back by an independent reader (test/runtime/media/decoders.ts: chunk CRCs, inflate, the five
 * unfilters) giving the exact pixels, with the row filters the heuristic must pick.
 */
import { describe, expect, it } from "vitest";
import { crc32 } from "../../../runtime/media/crc32.js";
import { encodePng, filterImage, IDAT_BYTES, paethPredictor } from "../../../runtime/media/png.js";
import { bitwiseCrc32, decodePng } from "./decoders.js";

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

/** Deterministic pseudo-random bytes (a 32-bit LCG), so failures reproduce. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

describe("crc32", () => {
  it("gives the published check values", () => {
    expect(crc32(ascii("123456789"))).toBe(0xcbf43926);
    expect(crc32(ascii("IEND"))).toBe(0xae426082);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it("agrees with a bitwise CRC and continues across calls", () => {
    for (const length of [1, 7, 256, 5000]) {
      const bytes = noise(length, length);
      expect(crc32(bytes)).toBe(bitwiseCrc32(bytes));
      const cut = length >> 1;
      expect(crc32(bytes.subarray(cut), crc32(bytes.subarray(0, cut)))).toBe(bitwiseCrc32(bytes));
    }
  });
});

describe("encodePng", () => {
  it("writes a 1x1 red RGB image at level 0 byte for byte", () => {
    const png = encodePng({ width: 1, height: 1, channels: 3, data: Uint8Array.of(255, 0, 0) }, { level: 0 });
    // prettier-ignore
    const expected = [
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,             // signature
      0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,             // IHDR, 13 bytes
      0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,             // width 1, height 1
      0x08, 0x02, 0x00, 0x00, 0x00,                               // depth 8, truecolour, deflate, adaptive, no interlace
      0x90, 0x77, 0x53, 0xde,                                     // CRC of the 1x1 RGB8 IHDR
      0x00, 0x00, 0x00, 0x0f, 0x49, 0x44, 0x41, 0x54,             // IDAT, 15 bytes
      0x78, 0x01,                                                 // zlib: deflate, 32K window, level 0 (0x7801 % 31 = 0)
      0x01, 0x04, 0x00, 0xfb, 0xff,                               // final stored block of 4 bytes (LEN, ~LEN)
      0x00, 0xff, 0x00, 0x00,                                     // filter None (no filter beats it: all see zeros), R G B
      0x03, 0x01, 0x01, 0x00,                                     // Adler-32: b = 1+256+256+256 = 769, a = 256
      0x8d, 0x1d, 0xe5, 0x82,                                     // CRC of IDAT and its data
      0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82, // IEND
    ];
    expect(Array.from(png)).toEqual(expected);
    expect(bitwiseCrc32(png.subarray(37, 37 + 4 + 15))).toBe(0x8d1de582);
  });

  it("round-trips RGB and RGBA images of many sizes through an independent reader", () => {
    for (const [width, height, channels] of [
      [1, 1, 3],
      [3, 2, 3],
      [17, 9, 3],
      [64, 33, 3],
      [5, 7, 4],
      [32, 32, 4],
    ] as const) {
      const data = noise(width * height * channels, width * 31 + height);
      const png = decodePng(encodePng({ width, height, channels, data }));
      expect(png).toMatchObject({ width, height, bitDepth: 8, colorType: channels === 3 ? 2 : 6, interlace: 0 });
      expect(png.chunks.map((c) => c.type)).toEqual(["IHDR", "IDAT", "IEND"]);
      expect(Buffer.from(png.pixels).equals(Buffer.from(data))).toBe(true);
    }
  });

  it("picks each row's filter by the smallest sum of signed magnitudes", () => {
    const width = 16;
    const data = new Uint8Array(width * 4 * 3);
    for (let x = 0; x < width; x++) {
      data.fill(10 * x, 3 * x, 3 * x + 3); // row 0: a ramp, Sub leaves 10s
      data.fill(10 * x, 3 * (width + x), 3 * (width + x) + 3); // row 1: the same again, Up leaves zeros
      data.fill(200, 3 * (2 * width + x), 3 * (2 * width + x) + 3); // row 2: flat 200, Sub leaves zeros after the first pixel
    }
    data.set(noise(3 * width, 5), 3 * 3 * width); // row 3: noise
    const png = decodePng(encodePng({ width, height: 4, channels: 3, data }));
    expect(png.filters.slice(0, 3)).toEqual([1, 2, 1]);
    expect(Buffer.from(png.pixels).equals(Buffer.from(data))).toBe(true);
    // Each chosen filter is no worse than any other for its row.
    const filtered = filterImage({ width, height: 4, channels: 3, data });
    expect(Array.from({ length: 4 }, (_, y) => filtered[y * (3 * width + 1)])).toEqual(png.filters);
  });

  it("gives every filter type on a photographic-like gradient and still decodes exactly", () => {
    const width = 40;
    const height = 40;
    const data = new Uint8Array(width * height * 3);
    const jitter = noise(width * height * 3, 9);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = 3 * (y * width + x);
        data[i] = (x * 6 + (jitter[i]! & 3)) & 0xff;
        data[i + 1] = (y * 6 + (jitter[i + 1]! & 3)) & 0xff;
        data[i + 2] = ((x + y) * 3 + (jitter[i + 2]! & 7)) & 0xff;
      }
    }
    const png = decodePng(encodePng({ width, height, channels: 3, data }));
    expect(new Set(png.filters).size).toBeGreaterThan(1);
    expect(Buffer.from(png.pixels).equals(Buffer.from(data))).toBe(true);
  });

  it("splits the zlib stream into IDAT chunks of at most 1 MiB", () => {
    const width = 700;
    const height = 700;
    const data = noise(width * height * 3, 77); // noise does not compress: about 1.47 MB
    const file = encodePng({ width, height, channels: 3, data }, { level: 1 });
    const png = decodePng(file);
    const idat = png.chunks.filter((c) => c.type === "IDAT");
    expect(idat.length).toBe(2);
    expect(idat[0]!.data.length).toBe(IDAT_BYTES);
    expect(Buffer.from(png.pixels).equals(Buffer.from(data))).toBe(true);
  });

  it("predicts with Paeth as the specification defines it", () => {
    expect(paethPredictor(10, 20, 10)).toBe(20); // p = 20: above is exact
    expect(paethPredictor(20, 10, 10)).toBe(20); // p = 20: left is exact
    expect(paethPredictor(10, 10, 10)).toBe(10); // a tie goes to left
    expect(paethPredictor(5, 9, 200)).toBe(5); // p = −186: |p − a| 191 < |p − b| 195, |p − c| 386
    expect(paethPredictor(100, 50, 60)).toBe(100); // p = 90: pa 10, pb 40, pc 30
  });

  it("refuses sizes and buffers that do not fit", () => {
    expect(() => encodePng({ width: 0, height: 1, channels: 3, data: new Uint8Array(0) })).toThrow(/1 to 2147483647 pixels/);
    expect(() => encodePng({ width: 2, height: 2, channels: 3, data: new Uint8Array(11) })).toThrow(/is 12 bytes, not 11/);
    expect(() => encodePng({ width: 1, height: 1, channels: 2 as 3, data: new Uint8Array(2) })).toThrow(/3 \(RGB\) or 4 \(RGBA\)/);
    expect(() => encodePng({ width: 1, height: 1, channels: 3, data: new Uint8Array(3) }, { level: 10 })).toThrow(/level is 0 to 9/);
  });
});
