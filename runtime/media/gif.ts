/**
 * Animated GIF89a of RGB frames: the header and logical screen, one global colour table (quantize.ts: median cut
 * over all frames), the NETSCAPE2.0 application extension that makes players loop, and per frame a graphic
 * control extension (its delay) and a full-canvas image of LZW data (lzw.ts) in sub-blocks of at most 255 bytes.
 *
 * Delays are whole centiseconds. Frame k lasts round(100·(k+1)/fps) − round(100·k/fps) centiseconds, so at 24
 * fps the delays run 4, 4, 5, 4, 4, 4, … and the whole video lasts frames/fps seconds to within 5 ms instead of
 * drifting (a fixed round(100/24) = 4 would play it 4 % fast). Browsers play a delay under 2 centiseconds as 10,
 * so no delay is written below 2: above 50 fps the GIF plays at 50 fps, and the encoder says so.
 */
import { LzwEncoder } from "./lzw.js";
import { buildPalette, PaletteMapper, type Palette } from "./quantize.js";

export interface GifOptions {
  /** Frames per second of the video. */
  readonly fps: number;
  /** Floyd–Steinberg dithering (default true); it does nothing where the palette holds every colour exactly. */
  readonly dither?: boolean;
  /** Times to play the animation (default 0: forever). */
  readonly loop?: number;
  /** Colours of the palette, 2 to 256 (default 256). */
  readonly maxColors?: number;
}

export interface GifResult {
  readonly bytes: Uint8Array;
  readonly palette: Palette;
  /** Each frame's delay in centiseconds. */
  readonly delays: readonly number[];
  /** What a reader should know (a frame rate GIF cannot show). */
  readonly notes: readonly string[];
}

/** The shortest delay players honour, in centiseconds. */
export const MIN_GIF_DELAY = 2;
/** GIF stores sizes, delays and the loop count in 16 bits. */
const MAX_U16 = 0xffff;

/** The delays of `count` frames at `fps`, in centiseconds, rounded without drift and at least MIN_GIF_DELAY. */
export function frameDelays(count: number, fps: number): number[] {
  if (!(Number.isFinite(fps) && fps > 0)) throw new RangeError(`a GIF's frame rate must be a positive number, not ${fps}`);
  const delays: number[] = [];
  for (let k = 0; k < count; k++) {
    const d = Math.round((100 * (k + 1)) / fps) - Math.round((100 * k) / fps);
    delays.push(Math.min(MAX_U16, Math.max(MIN_GIF_DELAY, d)));
  }
  return delays;
}

/** Appends bytes to a growing list of parts. */
class ByteSink {
  readonly parts: Uint8Array[] = [];
  bytes(...values: number[]): void {
    this.parts.push(Uint8Array.from(values));
  }
  u16(value: number): void {
    this.bytes(value & 0xff, value >>> 8);
  }
  ascii(text: string): void {
    this.parts.push(Uint8Array.from(text, (c) => c.charCodeAt(0)));
  }
  raw(data: Uint8Array): void {
    this.parts.push(data);
  }
  /** Data as sub-blocks (a length byte and up to 255 bytes each) and the zero-length block that ends them. */
  subBlocks(data: Uint8Array): void {
    for (let at = 0; at < data.length; at += 255) {
      const block = data.subarray(at, at + 255);
      this.bytes(block.length);
      this.raw(block);
    }
    this.bytes(0);
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** The number of bits of a colour table that holds `size` colours (a table has 2^bits entries, bits 1 to 8). */
export function tableBits(size: number): number {
  let bits = 1;
  while (1 << bits < size) bits++;
  return bits;
}

/** An animated GIF of RGB frames (interleaved R, G, B bytes, `width · height · 3` each). */
export function encodeGif(frames: readonly Uint8Array[], width: number, height: number, options: GifOptions): GifResult {
  if (frames.length === 0) throw new RangeError("a GIF needs at least one frame");
  if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 1 && height >= 1 && width <= MAX_U16 && height <= MAX_U16)) {
    throw new RangeError(`a GIF is 1 to ${MAX_U16} pixels on each side, not ${width}x${height}`);
  }
  frames.forEach((f, i) => {
    if (f.length !== width * height * 3) throw new RangeError(`GIF frame ${i} is ${f.length} bytes, not ${width * height * 3} (${width}x${height} RGB)`);
  });
  const loop = options.loop ?? 0;
  if (!(Number.isInteger(loop) && loop >= 0 && loop <= MAX_U16)) throw new RangeError(`a GIF's loop count is 0 (forever) to ${MAX_U16}, not ${loop}`);
  const delays = frameDelays(frames.length, options.fps);
  const notes: string[] = [];
  if (frames.length > 1 && 100 / options.fps < MIN_GIF_DELAY) {
    notes.push(`GIF delays are whole centiseconds and players show a delay under ${MIN_GIF_DELAY} as 10: ${options.fps} fps is written at ${100 / MIN_GIF_DELAY} fps`);
  }

  const palette = buildPalette(frames, options.maxColors ?? 256);
  const mapper = new PaletteMapper(palette);
  const bits = tableBits(palette.size);
  const minCodeSize = Math.max(2, bits);
  const out = new ByteSink();

  out.ascii("GIF89a");
  // Logical screen: global table present (0x80), 8 bits per primary in the source (7 << 4), not sorted, its size.
  out.u16(width);
  out.u16(height);
  out.bytes(0x80 | (7 << 4) | (bits - 1), 0, 0);
  const table = new Uint8Array(3 << bits);
  table.set(palette.colors);
  out.raw(table);
  if (frames.length > 1) {
    out.bytes(0x21, 0xff, 11);
    out.ascii("NETSCAPE2.0");
    out.bytes(3, 1);
    out.u16(loop);
    out.bytes(0);
  }
  const lzw = new LzwEncoder();
  frames.forEach((frame, i) => {
    // Graphic control: disposal 1 (leave the frame in place; the next one covers it whole), no transparency.
    out.bytes(0x21, 0xf9, 4, 1 << 2);
    out.u16(delays[i]!);
    out.bytes(0, 0);
    // Image descriptor: the whole canvas, no local colour table, not interlaced.
    out.bytes(0x2c);
    out.u16(0);
    out.u16(0);
    out.u16(width);
    out.u16(height);
    out.bytes(0);
    out.bytes(minCodeSize);
    out.subBlocks(lzw.encode(mapper.indices(frame, width, height, options.dither ?? true), minCodeSize));
  });
  out.bytes(0x3b);
  return { bytes: out.concat(), palette, delays, notes };
}
