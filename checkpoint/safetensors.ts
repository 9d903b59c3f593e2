/**
 * Reading safetensors files (https://github.com/huggingface/safetensors, "Format"): an 8-byte little-endian
 * header length N, N bytes of JSON (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {string: string}}`), then the tensor bytes, offsets relative to the end of the header.
 *
 * The header is validated as strictly as the reference Rust implementation does, because a loader that
 * trusts a bad header reads another tensor's bytes or past the end of the file: the tensors must tile the
 * data section exactly (in offset order, each starting where the previous ended, the last ending at the end
 * of the file), and each byte range must be shape × dtype size long. Every error names the tensor and what
 * is wrong with it.
 */
import { open, type FileHandle } from "node:fs/promises";
import { bf16ToF32, DTYPE_BYTES, f16ToF32, isSafetensorsDtype, type SafetensorsDtype } from "./dtype.js";

/** The reference implementation refuses headers above 100 MB; a larger length is a corrupt or hostile file. */
export const MAX_HEADER_BYTES = 100_000_000;

/** The key of the header's free-form string map. */
export const METADATA_KEY = "__metadata__";

export interface TensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Byte range in the data section (after the header). */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  /** In data order (ascending offsets), which is also the order a writer laid them out in. */
  readonly tensors: readonly TensorEntry[];
  readonly metadata: Readonly<Record<string, string>>;
  /** File offset of the data section: 8 + the header length. */
  readonly dataStart: number;
  readonly fileBytes: number;
}

/** A file that is not a valid safetensors file; the message names the tensor and the problem. */
export class SafetensorsError extends Error {
  override readonly name = "SafetensorsError";
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isOffset(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function parseMetadata(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) throw new SafetensorsError(`\`${METADATA_KEY}\` must be an object of strings`);
  const metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== "string") throw new SafetensorsError(`\`${METADATA_KEY}\` entry \`${key}\` must be a string, not ${JSON.stringify(entry)}`);
    metadata[key] = entry;
  }
  return metadata;
}

function parseEntry(name: string, value: unknown): TensorEntry {
  const where = `tensor \`${name}\``;
  if (!isPlainObject(value)) throw new SafetensorsError(`${where}: its header entry must be an object with dtype, shape and data_offsets`);
  for (const key of Object.keys(value)) {
    if (key !== "dtype" && key !== "shape" && key !== "data_offsets") throw new SafetensorsError(`${where}: unknown field \`${key}\``);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== "string" || !isSafetensorsDtype(dtype)) {
    throw new SafetensorsError(`${where}: unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(", ")})`);
  }
  if (!Array.isArray(shape) || !shape.every(isOffset)) {
    throw new SafetensorsError(`${where}: shape must be a list of non-negative integers, not ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isOffset)) {
    throw new SafetensorsError(`${where}: data_offsets must be two non-negative integers [begin, end], not ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new SafetensorsError(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  const expected = elementCount(shape as number[]) * DTYPE_BYTES[dtype];
  if (end - begin !== expected) {
    throw new SafetensorsError(
      `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} [${shape.join(", ")}] needs ${expected}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/**
 * Parses and validates a header: `json` is the N header bytes, `dataBytes` the size of the data section
 * (file size - 8 - N). Throws SafetensorsError naming the first problem found.
 */
export function parseHeader(json: Uint8Array, dataBytes: number, dataStart = 8 + json.length): SafetensorsHeader {
  // The format requires the header to start with `{`; trailing spaces are the writer's alignment padding.
  if (json[0] !== 0x7b) throw new SafetensorsError("the header must be a JSON object starting with `{`");
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (error) {
    throw new SafetensorsError(`the header is not valid UTF-8 JSON: ${(error as Error).message}`);
  }
  // JSON that starts with `{` and parses is an object.
  let metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
    if (name === METADATA_KEY) metadata = parseMetadata(entry);
    else tensors.push(parseEntry(name, entry));
  }
  // Sorting by offset (zero-byte tensors before the one they sit in front of) turns "no gaps and no overlap"
  // into "each begins where the previous ended".
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: TensorEntry | undefined;
  for (const t of tensors) {
    if (t.begin < cursor) {
      throw new SafetensorsError(`tensor \`${t.name}\`: data_offsets [${t.begin}, ${t.end}] overlap tensor \`${previous!.name}\` [${previous!.begin}, ${previous!.end}]`);
    }
    if (t.begin > cursor) {
      const after = previous ? `after tensor \`${previous.name}\`` : "at the start of the data";
      throw new SafetensorsError(`tensor \`${t.name}\`: data_offsets begin at ${t.begin}, leaving bytes ${cursor}..${t.begin} ${after} unused`);
    }
    if (t.end > dataBytes) {
      throw new SafetensorsError(`tensor \`${t.name}\`: data_offsets [${t.begin}, ${t.end}] run past the end of the data (${dataBytes} bytes): the file is truncated`);
    }
    cursor = t.end;
    previous = t;
  }
  if (cursor !== dataBytes) {
    const left = dataBytes - cursor;
    throw new SafetensorsError(
      previous
        ? `the data section has ${left} bytes after the last tensor \`${previous.name}\` that no tensor covers`
        : `the data section has ${left} bytes but the header lists no tensors`,
    );
  }
  return { tensors, metadata, dataStart, fileBytes: dataStart + dataBytes };
}

async function readExactly(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new SafetensorsError(`the file ends at byte ${position + done}, expected ${position + length}`);
    done += bytesRead;
  }
  return buffer;
}

async function readHeaderFrom(handle: FileHandle): Promise<SafetensorsHeader> {
  const { size } = await handle.stat();
  if (size < 8) throw new SafetensorsError(`the file has ${size} bytes, fewer than the 8 of the header length`);
  const length = (await readExactly(handle, 8, 0)).readBigUInt64LE(0);
  if (length > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(`the header length ${length} is above the format's limit of ${MAX_HEADER_BYTES} bytes`);
  const n = Number(length);
  if (8 + n > size) throw new SafetensorsError(`the header length ${n} runs past the end of the file (${size} bytes)`);
  return parseHeader(await readExactly(handle, n, 8), size - 8 - n, 8 + n);
}

/** Decodes a tensor's little-endian bytes to fp32 (fp16 and bf16 exactly, wider types rounded). */
export function decodeToF32(entry: Pick<TensorEntry, "name" | "dtype">, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / DTYPE_BYTES[entry.dtype];
  const out = new Float32Array(n);
  const read = readers[entry.dtype];
  if (!read) throw new SafetensorsError(`tensor \`${entry.name}\`: dtype ${entry.dtype} has no conversion to f32`);
  for (let i = 0; i < n; i++) out[i] = read(view, i);
  return out;
}

// 8-bit floats are left out on purpose: no checkpoint this project reads uses them, and each has variants
// (finite-only, NaN encodings) a silent guess would get wrong.
const readers: Partial<Record<SafetensorsDtype, (view: DataView, i: number) => number>> = {
  F32: (v, i) => v.getFloat32(4 * i, true),
  F16: (v, i) => f16ToF32(v.getUint16(2 * i, true)),
  BF16: (v, i) => bf16ToF32(v.getUint16(2 * i, true)),
  F64: (v, i) => v.getFloat64(8 * i, true),
  BOOL: (v, i) => (v.getUint8(i) === 0 ? 0 : 1),
  U8: (v, i) => v.getUint8(i),
  I8: (v, i) => v.getInt8(i),
  U16: (v, i) => v.getUint16(2 * i, true),
  I16: (v, i) => v.getInt16(2 * i, true),
  U32: (v, i) => v.getUint32(4 * i, true),
  I32: (v, i) => v.getInt32(4 * i, true),
  U64: (v, i) => Number(v.getBigUint64(8 * i, true)),
  I64: (v, i) => Number(v.getBigInt64(8 * i, true)),
};

/** An open safetensors file: its validated header, and tensors read on demand. */
export interface SafetensorsReader {
  readonly header: SafetensorsHeader;
  /** The tensor's raw little-endian bytes. */
  bytes(name: string): Promise<Buffer>;
  /** The tensor converted to fp32. */
  readF32(name: string): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Opens a file and validates its header; throws SafetensorsError for a malformed file (after closing it). */
export async function openSafetensors(path: string): Promise<SafetensorsReader> {
  const handle = await open(path, "r");
  let header: SafetensorsHeader;
  try {
    header = await readHeaderFrom(handle);
  } catch (error) {
    await handle.close();
    throw error;
  }
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const entry = (name: string): TensorEntry => {
    const found = byName.get(name);
    if (!found) throw new SafetensorsError(`tensor \`${name}\` is not in the file`);
    return found;
  };
  const bytes = (name: string): Promise<Buffer> => {
    const t = entry(name);
    return readExactly(handle, t.end - t.begin, header.dataStart + t.begin);
  };
  return {
    header,
    bytes,
    readF32: async (name) => decodeToF32(entry(name), await bytes(name)),
    close: () => handle.close(),
  };
}

/** The validated header of a file (the file is closed again). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const reader = await openSafetensors(path);
  await reader.close();
  return reader.header;
}
