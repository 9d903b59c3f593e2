/**
 * PNG encoding of 8-bit RGB and RGBA images (PNG, ISO/IEC 15948 / W3C PNG 2nd edition): the signature, IHDR
 * (bit depth 8, colour type 2 or 6, no interlace), the zlib stream of the filtered rows in IDAT chunks of at most
 * 1 MiB each (a chunk may hold up to 2^31 − 1 bytes; smaller ones keep every buffer modest), and IEND, each chunk
 * with its CRC-32 (crc32.ts). Each row gets the filter type whose output has the smallest sum
 * of absolute values, the bytes read as signed (the heuristic the PNG specification recommends, §12.8), over all
 * five types: None, Sub, Up, Average and Paeth. The zlib stream comes from node:zlib's deflateSync.
 */
import { deflateSync } from "node:zlib";
import { crc32 } from "./crc32.js";

/** A picture as interleaved 8-bit samples, row by row from the top: `width · height · channels` bytes. */
export interface RasterImage {
  readonly width: number;
  readonly height: number;
  /** 3: R, G, B; 4: R, G, B, A (straight, not premultiplied alpha). */
  readonly channels: 3 | 4;
  readonly data: Uint8Array;
}

export interface PngOptions {
  /** The deflate level, 0 (stored, no compression) to 9 (default 6, zlib's own default). */
  readonly level?: number;
}

/** The eight bytes every PNG file starts with. */
export const PNG_SIGNATURE: Uint8Array = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** The largest width or height PNG allows (2^31 − 1). */
const MAX_SIDE = 0x7fffffff;

/** The most zlib bytes one IDAT chunk carries. */
export const IDAT_BYTES = 1 << 20;

/** The filter types, in the numbering of the specification (§9.2). */
export const FilterType = { none: 0, sub: 1, up: 2, average: 3, paeth: 4 } as const;

/** The Paeth predictor of §9.4: of left, above and upper-left, the one nearest to left + above − upper-left. */
export function paethPredictor(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/**
 * Writes row `row` filtered with `type` into `out` (without the type byte). `prior` is the unfiltered row above
 * (all zero for the first row), `bpp` the bytes per pixel: the "left" byte is `bpp` bytes back.
 */
function filterRow(type: number, row: Uint8Array, prior: Uint8Array, bpp: number, out: Uint8Array): void {
  const n = row.length;
  for (let i = 0; i < n; i++) {
    const x = row[i]!;
    const a = i >= bpp ? row[i - bpp]! : 0;
    const b = prior[i]!;
    const c = i >= bpp ? prior[i - bpp]! : 0;
    let predicted: number;
    switch (type) {
      case FilterType.sub:
        predicted = a;
        break;
      case FilterType.up:
        predicted = b;
        break;
      case FilterType.average:
        predicted = (a + b) >>> 1;
        break;
      case FilterType.paeth:
        predicted = paethPredictor(a, b, c);
        break;
      default:
        predicted = 0;
    }
    out[i] = (x - predicted) & 0xff;
  }
}

/** The heuristic's cost of a filtered row: the sum of its bytes read as signed values' magnitudes. */
function signedMagnitude(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) {
    const v = bytes[i]!;
    sum += v < 128 ? v : 256 - v;
  }
  return sum;
}

/**
 * The filtered image data (before compression): per row, the chosen filter type byte and the filtered bytes.
 * Ties go to the lower type number, so a row that no filter improves stays unfiltered.
 */
export function filterImage(image: RasterImage): Uint8Array {
  const stride = image.width * image.channels;
  const bpp = image.channels;
  const out = new Uint8Array((stride + 1) * image.height);
  const candidate = new Uint8Array(stride);
  const best = new Uint8Array(stride);
  let prior: Uint8Array = new Uint8Array(stride);
  for (let y = 0; y < image.height; y++) {
    const row = image.data.subarray(y * stride, (y + 1) * stride);
    let bestType = 0;
    let bestCost = Infinity;
    for (let type = 0; type <= 4; type++) {
      filterRow(type, row, prior, bpp, candidate);
      const cost = signedMagnitude(candidate);
      if (cost < bestCost) {
        bestCost = cost;
        bestType = type;
        best.set(candidate);
      }
    }
    const at = y * (stride + 1);
    out[at] = bestType;
    out.set(best, at + 1);
    prior = row;
  }
  return out;
}

/** One chunk: length (big-endian), type, data, and the CRC over type and data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function checkImage(image: RasterImage): void {
  const { width, height, channels, data } = image;
  if (!(Number.isInteger(width) && width >= 1 && width <= MAX_SIDE && Number.isInteger(height) && height >= 1 && height <= MAX_SIDE)) {
    throw new RangeError(`a PNG image is 1 to ${MAX_SIDE} pixels on each side, not ${width}x${height}`);
  }
  if (channels !== 3 && channels !== 4) throw new RangeError(`a PNG image here has 3 (RGB) or 4 (RGBA) channels, not ${String(channels)}`);
  if (data.length !== width * height * channels) {
    throw new RangeError(`a ${width}x${height} image of ${channels} channels is ${width * height * channels} bytes, not ${data.length}`);
  }
}

/** The PNG file of an image. */
export function encodePng(image: RasterImage, options: PngOptions = {}): Uint8Array {
  checkImage(image);
  const level = options.level ?? 6;
  if (!(Number.isInteger(level) && level >= 0 && level <= 9)) throw new RangeError(`the PNG deflate level is 0 to 9, not ${level}`);
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, image.width);
  view.setUint32(4, image.height);
  header[8] = 8; // bit depth
  header[9] = image.channels === 3 ? 2 : 6; // colour type: truecolour, or truecolour with alpha
  header[10] = 0; // compression method: deflate
  header[11] = 0; // filter method: adaptive, five types
  header[12] = 0; // no interlace
  const compressed = deflateSync(filterImage(image), { level });
  const parts = [PNG_SIGNATURE, chunk("IHDR", header)];
  for (let at = 0; at < compressed.length; at += IDAT_BYTES) parts.push(chunk("IDAT", compressed.subarray(at, at + IDAT_BYTES)));
  parts.push(chunk("IEND", new Uint8Array(0)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
