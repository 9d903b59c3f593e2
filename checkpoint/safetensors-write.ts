/**
 * Writing safetensors files, streamed tensor by tensor so a checkpoint at real size (gigabytes) never has to
 * sit in memory whole, and atomically: the bytes go to a temporary file next to the target (same file system,
 * so the rename is atomic) that is synced and renamed over it only once complete. A reader therefore sees the
 * old file or the new one; a failure on the way leaves neither a partial file nor the temporary one.
 */
import { randomBytes } from "node:crypto";
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { DTYPE_BYTES, type SafetensorsDtype } from "./dtype.js";
import { elementCount, MAX_HEADER_BYTES, METADATA_KEY } from "./safetensors.js";

/** A tensor to write: its bytes are asked for only when its turn comes. */
export interface TensorToWrite {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
}

/** Gives a tensor's little-endian bytes (exactly prod(shape) × dtype size of them). */
export type TensorBytes = (tensor: TensorToWrite) => Uint8Array | Promise<Uint8Array>;

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * The header bytes and the data layout: tensors sorted by the UTF-8 bytes of their names (a stable order
 * independent of how the caller listed them, so the same tensors always give the same file), the JSON
 * padded with spaces so the data starts at a multiple of 8 bytes, which the format requires for aligned reads.
 */
export function layoutHeader(
  tensors: readonly TensorToWrite[],
  metadata: Readonly<Record<string, string>> = {},
): { readonly header: Buffer; readonly order: readonly TensorToWrite[] } {
  const order = [...tensors].sort((a, b) => byteOrder(a.name, b.name));
  const seen = new Set<string>();
  const parts: string[] = [];
  if (Object.keys(metadata).length > 0) {
    const sorted = Object.keys(metadata).sort(byteOrder);
    // Built by hand rather than by JSON.stringify of an object, which would move integer-like keys first.
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${sorted.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(",")}}`);
  }
  let offset = 0;
  for (const t of order) {
    if (t.name === METADATA_KEY) throw new Error(`tensor \`${t.name}\`: the name is reserved for the header's metadata`);
    if (t.name.length === 0) throw new Error("a tensor has an empty name");
    if (seen.has(t.name)) throw new Error(`tensor \`${t.name}\` is listed twice`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`tensor \`${t.name}\`: shape [${t.shape.join(", ")}] must hold non-negative integers`);
    seen.add(t.name);
    const end = offset + elementCount(t.shape) * DTYPE_BYTES[t.dtype];
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] })}`);
    offset = end;
  }
  const json = Buffer.from(`{${parts.join(",")}}`, "utf8");
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw new Error(`the header would be ${padded} bytes, above the format's limit of ${MAX_HEADER_BYTES}`);
  const header = Buffer.alloc(8 + padded, 0x20);
  header.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(header, 8);
  return { header, order };
}

/** Writes all of `bytes` at `position`: one write(2) moves at most about 2 GiB on Linux. */
async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position + done);
    done += bytesWritten;
  }
}

/** Writes a safetensors file atomically and returns its size; `bytesOf` is called once per tensor, in file order. */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  bytesOf: TensorBytes,
  metadata: Readonly<Record<string, string>> = {},
): Promise<number> {
  const { header, order } = layoutHeader(tensors, metadata);
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  // `wx`: never follow or reuse a file that happens to have the temporary name.
  const handle = await open(temp, "wx");
  try {
    await writeFully(handle, header, 0);
    let position = header.length;
    for (const t of order) {
      const bytes = await bytesOf(t);
      const expected = elementCount(t.shape) * DTYPE_BYTES[t.dtype];
      if (bytes.byteLength !== expected) {
        throw new Error(`tensor \`${t.name}\`: got ${bytes.byteLength} bytes, but ${t.dtype} [${t.shape.join(", ")}] needs ${expected}`);
      }
      await writeFully(handle, bytes, position);
      position += bytes.byteLength;
    }
    // Synced before the rename, so a crash cannot leave the new name pointing at unwritten blocks.
    await handle.sync();
    await handle.close();
    await rename(temp, path);
    return position;
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
}
