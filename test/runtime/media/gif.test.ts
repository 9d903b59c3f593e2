/**
 * runtime/media/lzw.ts, quantize.ts and gif.ts, checked by an independent GIF reader and LZW decoder
 * (decoders.ts): the LZW codes decode to the indices encoded for every minimum code size, through table
 * clears and 12-bit codes; a video of few colours comes back exactly; a video of many gets a median-cut palette
 * of at most 256 colours that stays close, dithering keeping the mean colour; the file's structure (screen,
 * colour table, NETSCAPE2.0 loop, delays without drift) is as GIF89a defines it.
 */
import { describe, expect, it } from "vitest";
import { encodeGif, frameDelays, tableBits } from "../../../runtime/media/gif.js";
import { LzwEncoder } from "../../../runtime/media/lzw.js";
import { buildPalette, nearestEntry, PaletteMapper } from "../../../runtime/media/quantize.js";
import { decodeGif, decodeLzw } from "./decoders.js";

function noise(length: number, seed: number, modulo = 256): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 16) % modulo;
  }
  return out;
}

describe("LzwEncoder", () => {
  const encoder = new LzwEncoder();

  it("decodes to the indices encoded, for every minimum code size", () => {
    for (let minCodeSize = 2; minCodeSize <= 8; minCodeSize++) {
      for (const [length, seed] of [
        [1, 1],
        [2, 2],
        [3, 3],
        [100, 4],
        [5000, 5],
      ] as const) {
        const indices = noise(length, seed * 13 + minCodeSize, 1 << minCodeSize);
        const trace = decodeLzw(encoder.encode(indices, minCodeSize), minCodeSize);
        expect(trace.ended).toBe(true);
        expect(Buffer.from(trace.indices).equals(Buffer.from(indices))).toBe(true);
      }
    }
  });

  it("clears the table when it fills and widens codes to 12 bits", () => {
    const indices = noise(200_000, 42, 256);
    const trace = decodeLzw(encoder.encode(indices, 8), 8);
    expect(trace.clears).toBeGreaterThan(10);
    expect(trace.widest).toBe(12);
    expect(Buffer.from(trace.indices).equals(Buffer.from(indices))).toBe(true);
  });

  it("codes long runs (the string-plus-its-first-index case) and repeated patterns", () => {
    const runs = new Uint8Array(70_000).fill(3);
    const pattern = Uint8Array.from({ length: 90_000 }, (_, i) => (i * 7) % 5);
    for (const indices of [runs, pattern]) {
      const data = encoder.encode(indices, 3);
      expect(data.length).toBeLessThan(indices.length / 10);
      expect(Buffer.from(decodeLzw(data, 3).indices).equals(Buffer.from(indices))).toBe(true);
    }
  });

  it("is reusable: a second image after a first encodes the same as on a fresh encoder", () => {
    const first = noise(30_000, 7, 16);
    const second = noise(777, 8, 16);
    encoder.encode(first, 4);
    expect(Buffer.from(encoder.encode(second, 4)).equals(Buffer.from(new LzwEncoder().encode(second, 4)))).toBe(true);
  });

  it("refuses an index the code size cannot hold", () => {
    expect(() => encoder.encode(Uint8Array.of(0, 4), 2)).toThrow(/index 4 at pixel 1/);
    expect(() => encoder.encode(Uint8Array.of(0), 1)).toThrow(/2 to 8/);
  });
});

describe("buildPalette", () => {
  it("keeps a video of at most 256 colours exact, in order of appearance", () => {
    const frame = Uint8Array.of(9, 8, 7, 1, 2, 3, 9, 8, 7);
    const palette = buildPalette([frame, Uint8Array.of(4, 5, 6, 1, 2, 3, 1, 2, 3)]);
    expect(palette.exact).toBe(true);
    expect(Array.from(palette.colors)).toEqual([9, 8, 7, 1, 2, 3, 4, 5, 6]);
  });

  it("cuts two clusters of many colours into their two means", () => {
    const pixels: number[] = [];
    for (let i = 0; i < 600; i++) pixels.push(200 + (i % 40), 10 + ((i >> 3) % 20), 20 + (i % 7)); // reds
    for (let i = 0; i < 600; i++) pixels.push(15 + (i % 9), 30 + (i % 11), 180 + ((i >> 2) % 60)); // blues
    const frame = Uint8Array.from(pixels);
    const palette = buildPalette([frame], 2);
    expect(palette.exact).toBe(false);
    expect(palette.size).toBe(2);
    const mean = (from: number, to: number, c: number): number => {
      let s = 0;
      for (let i = from; i < to; i++) s += frame[3 * i + c]!;
      return Math.round(s / (to - from));
    };
    const expected = [
      [mean(0, 600, 0), mean(0, 600, 1), mean(0, 600, 2)],
      [mean(600, 1200, 0), mean(600, 1200, 1), mean(600, 1200, 2)],
    ];
    const got = [Array.from(palette.colors.subarray(0, 3)), Array.from(palette.colors.subarray(3, 6))].sort((a, b) => b[0]! - a[0]!);
    expect(got).toEqual(expected.sort((a, b) => b[0]! - a[0]!));
  });

  it("gives at most 256 colours for a full-colour video, each near its pixels", () => {
    const frames = [noise(64 * 64 * 3, 1), noise(64 * 64 * 3, 2)];
    const palette = buildPalette(frames);
    expect(palette.size).toBe(256);
    const mapper = new PaletteMapper(palette);
    let error = 0;
    const f = frames[0]!;
    for (let i = 0; i < f.length; i += 3) {
      const k = mapper.entry(f[i]!, f[i + 1]!, f[i + 2]!);
      error += Math.abs(palette.colors[3 * k]! - f[i]!) + Math.abs(palette.colors[3 * k + 1]! - f[i + 1]!) + Math.abs(palette.colors[3 * k + 2]! - f[i + 2]!);
    }
    // Uniform noise over the cube: 256 boxes of side ~40 leave a mean error of about 10 a channel.
    expect(error / f.length).toBeLessThan(16);
  });

  it("maps through its cell cache to an entry within 2 levels of the true nearest", () => {
    const palette = buildPalette([noise(32 * 32 * 3, 3)], 64);
    const mapper = new PaletteMapper(palette);
    const probe = noise(3000, 11);
    for (let i = 0; i < probe.length; i += 3) {
      const [r, g, b] = [probe[i]!, probe[i + 1]!, probe[i + 2]!];
      const distance = (k: number): number => Math.hypot(palette.colors[3 * k]! - r, palette.colors[3 * k + 1]! - g, palette.colors[3 * k + 2]! - b);
      expect(distance(mapper.entry(r, g, b))).toBeLessThanOrEqual(distance(nearestEntry(palette, r, g, b)) + 2 * Math.sqrt(3) * 1.5);
    }
  });
});

describe("dithering", () => {
  it("keeps the mean colour of a flat area between palette colours, which plain mapping loses", () => {
    const palette = { colors: Uint8Array.of(0, 0, 0, 255, 255, 255), size: 2, exact: false };
    const mapper = new PaletteMapper(palette);
    const width = 32;
    const frame = new Uint8Array(width * width * 3).fill(64); // a quarter grey
    const mean = (indices: Uint8Array): number => indices.reduce((s, k) => s + palette.colors[3 * k]!, 0) / indices.length;
    expect(mean(mapper.indices(frame, width, width, false))).toBe(0);
    expect(Math.abs(mean(mapper.indices(frame, width, width, true)) - 64)).toBeLessThan(2);
  });
});

describe("frameDelays", () => {
  it("rounds without drift: 24 fps runs 4, 4, 5, 4, 4, 4 centiseconds and a second is 100", () => {
    expect(frameDelays(6, 24)).toEqual([4, 4, 5, 4, 4, 4]);
    expect(frameDelays(24, 24).reduce((a, b) => a + b, 0)).toBe(100);
    expect(frameDelays(3, 8)).toEqual([13, 12, 13]);
    expect(frameDelays(2, 1)).toEqual([100, 100]);
  });

  it("writes no delay under 2 centiseconds", () => {
    expect(frameDelays(4, 60)).toEqual([2, 2, 2, 2]);
  });
});

describe("encodeGif", () => {
  it("writes GIF89a with a global table, a NETSCAPE2.0 loop, delays, and frames that decode exactly", () => {
    const width = 7;
    const height = 5;
    const colors = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [250, 250, 250],
      [10, 20, 30],
    ];
    const frames = [0, 1, 2].map((f) => {
      const frame = new Uint8Array(width * height * 3);
      for (let i = 0; i < width * height; i++) frame.set(colors[(i + f * 2 + (i >> 3)) % colors.length]!, 3 * i);
      return frame;
    });
    const result = encodeGif(frames, width, height, { fps: 24 });
    const gif = decodeGif(result.bytes);
    expect(gif).toMatchObject({ version: "GIF89a", width, height, globalTableSize: 8, loop: 0, trailer: true });
    expect(result.palette.exact).toBe(true);
    expect(gif.frames.map((f) => f.delay)).toEqual([4, 4, 5]);
    expect(result.delays).toEqual([4, 4, 5]);
    gif.frames.forEach((f, i) => {
      expect(f).toMatchObject({ left: 0, top: 0, width, height, minCodeSize: 3, disposal: 1 });
      expect(f.lzw.ended).toBe(true);
      expect(Buffer.from(f.rgb).equals(Buffer.from(frames[i]!))).toBe(true);
    });
    expect(result.notes).toEqual([]);
  });

  it("uses minimum code size 2 and a 2-entry table for a two-colour image, without a loop block for one frame", () => {
    const frame = Uint8Array.of(0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0);
    const gif = decodeGif(encodeGif([frame], 2, 2, { fps: 10, loop: 3 }).bytes);
    expect(gif.globalTableSize).toBe(2);
    expect(gif.loop).toBeUndefined();
    expect(gif.frames[0]!.minCodeSize).toBe(2);
    expect(Array.from(gif.frames[0]!.rgb)).toEqual(Array.from(frame));
    expect(decodeGif(encodeGif([frame, frame], 2, 2, { fps: 10, loop: 3 }).bytes).loop).toBe(3);
  });

  it("quantizes a full-colour video to one palette of 256 and stays close, with and without dithering", () => {
    const width = 48;
    const height = 40;
    const frames = [0, 1].map((f) => {
      const frame = new Uint8Array(width * height * 3);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const i = 3 * (y * width + x);
          frame[i] = (x * 5 + f * 20) & 0xff;
          frame[i + 1] = y * 6;
          frame[i + 2] = (x * 3 + y * 2) & 0xff;
        }
      }
      return frame;
    });
    for (const dither of [false, true]) {
      const result = encodeGif(frames, width, height, { fps: 8, dither });
      const gif = decodeGif(result.bytes);
      expect(result.palette.size).toBeLessThanOrEqual(256);
      expect(gif.globalTableSize).toBe(256);
      gif.frames.forEach((f, i) => {
        expect(f.lzw.indices.length).toBe(width * height);
        let error = 0;
        for (let k = 0; k < f.rgb.length; k++) error += Math.abs(f.rgb[k]! - frames[i]![k]!);
        expect(error / f.rgb.length).toBeLessThan(dither ? 8 : 5);
      });
    }
  });

  it("says when the frame rate is above what GIF delays show", () => {
    const frame = new Uint8Array(3);
    expect(encodeGif([frame, frame], 1, 1, { fps: 60 }).notes).toEqual([expect.stringMatching(/60 fps is written at 50 fps/)]);
    expect(encodeGif([frame, frame], 1, 1, { fps: 50 }).notes).toEqual([]);
  });

  it("sizes the colour table to a power of two", () => {
    expect([2, 3, 4, 5, 16, 17, 129, 256].map(tableBits)).toEqual([1, 2, 2, 3, 4, 5, 8, 8]);
  });

  it("refuses what GIF cannot hold", () => {
    expect(() => encodeGif([], 1, 1, { fps: 8 })).toThrow(/at least one frame/);
    expect(() => encodeGif([new Uint8Array(3)], 70000, 1, { fps: 8 })).toThrow(/1 to 65535 pixels/);
    expect(() => encodeGif([new Uint8Array(4)], 1, 1, { fps: 8 })).toThrow(/frame 0 is 4 bytes, not 3/);
    expect(() => encodeGif([new Uint8Array(3)], 1, 1, { fps: 0 })).toThrow(/positive number/);
  });
});
