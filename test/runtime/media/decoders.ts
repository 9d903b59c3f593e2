/**
 * Decoders the media tests check the encoders against, written from the file format specifications and sharing
 * no code with runtime/media/: a bitwise CRC-32, a PNG reader (chunks, CRCs, inflate, the five unfilters) and a
 * GIF89a reader with its own LZW decoder (codes widen after the decoder's entry reaches 2^width; clear and end
 * codes honoured).
 */
import { inflateSync } from "node:zlib";

/** CRC-32 bit by bit (reflected 0xEDB88320), the slow way, as an oracle for the table-driven one. */
export function bitwiseCrc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

export interface PngChunk {
  readonly type: string;
  readonly data: Uint8Array;
  readonly crc: number;
}

export interface DecodedPng {
  readonly width: number;
  readonly height: number;
  readonly bitDepth: number;
  readonly colorType: number;
  readonly interlace: number;
  readonly chunks: readonly PngChunk[];
  /** The filter type byte of each row. */
  readonly filters: readonly number[];
  /** The unfiltered samples, rows from the top. */
  readonly pixels: Uint8Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Reads a PNG file, checking the signature and every chunk's CRC (an Error on any mismatch). */
export function decodePng(file: Uint8Array): DecodedPng {
  SIGNATURE.forEach((b, i) => {
    if (file[i] !== b) throw new Error(`PNG signature byte ${i} is ${file[i]}, not ${b}`);
  });
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const chunks: PngChunk[] = [];
  let at = 8;
  while (at < file.length) {
    const length = view.getUint32(at);
    const typeAndData = file.subarray(at + 4, at + 8 + length);
    const type = String.fromCharCode(...typeAndData.subarray(0, 4));
    const crc = view.getUint32(at + 8 + length);
    if (bitwiseCrc32(typeAndData) !== crc) throw new Error(`chunk ${type} has CRC ${crc.toString(16)}, not ${bitwiseCrc32(typeAndData).toString(16)}`);
    chunks.push({ type, data: typeAndData.subarray(4), crc });
    at += 12 + length;
  }
  if (at !== file.length) throw new Error("the last chunk runs past the end of the file");
  const ihdr = chunks[0]!;
  if (ihdr.type !== "IHDR" || ihdr.data.length !== 13) throw new Error("the first chunk is not a 13-byte IHDR");
  const h = new DataView(ihdr.data.buffer, ihdr.data.byteOffset, 13);
  const width = h.getUint32(0);
  const height = h.getUint32(4);
  const [bitDepth, colorType, , , interlace] = ihdr.data.subarray(8);
  const channels = colorType === 2 ? 3 : colorType === 6 ? 4 : 0;
  if (bitDepth !== 8 || channels === 0) throw new Error(`unsupported bit depth ${bitDepth} or colour type ${colorType}`);
  const idat = chunks.filter((c) => c.type === "IDAT");
  const zlib = new Uint8Array(idat.reduce((n, c) => n + c.data.length, 0));
  let z = 0;
  for (const c of idat) {
    zlib.set(c.data, z);
    z += c.data.length;
  }
  const raw = inflateSync(zlib);
  const stride = width * channels;
  if (raw.length !== (stride + 1) * height) throw new Error(`the image data is ${raw.length} bytes, not ${(stride + 1) * height}`);
  const pixels = new Uint8Array(stride * height);
  const filters: number[] = [];
  for (let y = 0; y < height; y++) {
    const type = raw[y * (stride + 1)]!;
    filters.push(type);
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i]!;
      const a = i >= channels ? pixels[y * stride + i - channels]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i]! : 0;
      const c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels]! : 0;
      let predictor: number;
      if (type === 0) predictor = 0;
      else if (type === 1) predictor = a;
      else if (type === 2) predictor = b;
      else if (type === 3) predictor = Math.floor((a + b) / 2);
      else if (type === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else throw new Error(`row ${y} has filter type ${type}`);
      pixels[y * stride + i] = (x + predictor) % 256;
    }
  }
  return { width, height, bitDepth: bitDepth!, colorType: colorType!, interlace: interlace!, chunks, filters, pixels };
}

/** What an LZW decode saw besides the indices: how many clear codes and the widest code. */
export interface LzwTrace {
  readonly indices: Uint8Array;
  readonly clears: number;
  readonly widest: number;
  /** Whether the data ended with the end-of-information code. */
  readonly ended: boolean;
}

/** Decodes GIF LZW data (sub-blocks already joined). */
export function decodeLzw(data: Uint8Array, minCodeSize: number): LzwTrace {
  const clear = 1 << minCodeSize;
  const end = clear + 1;
  let width = minCodeSize + 1;
  let widest = width;
  let table: number[][] = [];
  const reset = (): void => {
    table = Array.from({ length: clear }, (_, i) => [i]);
    table.push([], []); // clear and end hold no string
    width = minCodeSize + 1;
  };
  reset();
  const out: number[] = [];
  let bitPos = 0;
  let previous: number[] | undefined;
  let clears = 0;
  let ended = false;
  while (bitPos + width <= data.length * 8) {
    let code = 0;
    for (let k = 0; k < width; k++, bitPos++) code |= ((data[bitPos >> 3]! >> (bitPos & 7)) & 1) << k;
    if (code === clear) {
      clears++;
      reset();
      previous = undefined;
      continue;
    }
    if (code === end) {
      ended = true;
      break;
    }
    let entry: number[];
    if (code < table.length) entry = table[code]!;
    else if (code === table.length && previous) entry = [...previous, previous[0]!];
    else throw new Error(`LZW code ${code} is beyond the table (${table.length} entries)`);
    out.push(...entry);
    if (previous && table.length < 4096) {
      table.push([...previous, entry[0]!]);
      if (table.length === 1 << width && width < 12) {
        width++;
        widest = Math.max(widest, width);
      }
    }
    previous = entry;
  }
  return { indices: Uint8Array.from(out), clears, widest, ended };
}

export interface GifFrame {
  readonly delay: number;
  readonly disposal: number;
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
  readonly minCodeSize: number;
  readonly lzw: LzwTrace;
  /** The frame's pixels through the global colour table, interleaved R, G, B. */
  readonly rgb: Uint8Array;
}

export interface DecodedGif {
  readonly version: string;
  readonly width: number;
  readonly height: number;
  readonly globalTableSize: number;
  readonly globalTable: Uint8Array;
  /** The NETSCAPE2.0 loop count, when the extension is there. */
  readonly loop: number | undefined;
  readonly frames: readonly GifFrame[];
  readonly trailer: boolean;
}

/** Reads a GIF with a global colour table and full-frame images (what encodeGif writes); an Error on anything else. */
export function decodeGif(file: Uint8Array): DecodedGif {
  let at = 0;
  const u8 = (): number => file[at++]!;
  const u16 = (): number => {
    const v = file[at]! | (file[at + 1]! << 8);
    at += 2;
    return v;
  };
  const ascii = (n: number): string => String.fromCharCode(...file.subarray(at, (at += n)));
  const blocks = (): Uint8Array => {
    const parts: number[] = [];
    for (let n = u8(); n !== 0; n = u8()) for (let i = 0; i < n; i++) parts.push(u8());
    return Uint8Array.from(parts);
  };
  const version = ascii(6);
  const width = u16();
  const height = u16();
  const packed = u8();
  u8(); // background
  u8(); // aspect
  if (!(packed & 0x80)) throw new Error("no global colour table");
  const globalTableSize = 1 << ((packed & 7) + 1);
  const globalTable = file.slice(at, at + 3 * globalTableSize);
  at += 3 * globalTableSize;
  let loop: number | undefined;
  let delay = 0;
  let disposal = 0;
  const frames: GifFrame[] = [];
  let trailer = false;
  while (at < file.length) {
    const introducer = u8();
    if (introducer === 0x3b) {
      trailer = true;
      break;
    }
    if (introducer === 0x21) {
      const label = u8();
      if (label === 0xff) {
        const size = u8();
        const id = ascii(size);
        const data = blocks();
        if (id === "NETSCAPE2.0" && data[0] === 1) loop = data[1]! | (data[2]! << 8);
      } else if (label === 0xf9) {
        const data = blocks();
        disposal = (data[0]! >> 2) & 7;
        delay = data[1]! | (data[2]! << 8);
      } else blocks();
      continue;
    }
    if (introducer !== 0x2c) throw new Error(`unexpected byte ${introducer} at ${at - 1}`);
    const left = u16();
    const top = u16();
    const w = u16();
    const h = u16();
    if (u8() & 0x80) throw new Error("a local colour table");
    const minCodeSize = u8();
    const lzw = decodeLzw(blocks(), minCodeSize);
    const rgb = new Uint8Array(lzw.indices.length * 3);
    lzw.indices.forEach((k, i) => rgb.set(globalTable.subarray(3 * k, 3 * k + 3), 3 * i));
    frames.push({ delay, disposal, left, top, width: w, height: h, minCodeSize, lzw, rgb });
  }
  return { version, width, height, globalTableSize, globalTable, loop, frames, trailer };
}
