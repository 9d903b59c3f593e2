/** Reading and writing safetensors: the header round trip, tensors as fp32, and every validation error by name. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encodeF32 } from "../../checkpoint/dtype.js";
import { MAX_HEADER_BYTES, openSafetensors, parseHeader, readSafetensorsHeader, SafetensorsError } from "../../checkpoint/safetensors.js";
import { layoutHeader, writeSafetensors, type TensorToWrite } from "../../checkpoint/safetensors-write.js";

const dir = mkdtempSync(join(tmpdir(), "opendit-safetensors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A file of an 8-byte length (the header's, or `length`), the header text (or raw bytes) and the data (or that many zero bytes). */
function rawFile(header: string | Uint8Array, data: number | Buffer = 0, length?: bigint): string {
  const json = typeof header === "string" ? Buffer.from(header, "utf8") : Buffer.from(header);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(length ?? BigInt(json.length));
  const path = join(dir, `raw-${files++}.safetensors`);
  writeFileSync(path, Buffer.concat([prefix, json, typeof data === "number" ? Buffer.alloc(data) : data]));
  return path;
}

/** The message a file is refused with. */
async function refusal(path: string): Promise<string> {
  const error = await readSafetensorsHeader(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SafetensorsError);
  return (error as Error).message;
}

const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

describe("writing and reading back", () => {
  const tensors: TensorToWrite[] = [
    { name: "b.weight", dtype: "F32", shape: [2, 3] },
    { name: "a.bias", dtype: "F16", shape: [3] },
    { name: "c.table", dtype: "BF16", shape: [1, 2] },
    { name: "0", dtype: "F32", shape: [] },
    { name: "empty", dtype: "F32", shape: [0, 4] },
  ];
  const values: Record<string, Float32Array> = {
    "b.weight": new Float32Array([1, -2, 0.5, 3.25, -0.125, 7]),
    "a.bias": new Float32Array([1, -2, 0.333251953125]),
    "c.table": new Float32Array([3.140625, -1]),
    "0": new Float32Array([42]),
    empty: new Float32Array([]),
  };
  const dtypes = { F32: "fp32", F16: "fp16", BF16: "bf16" } as const;
  const metadata = { format: "pt", "2": "integer-like keys keep their place", note: "é" };

  it("round-trips names, dtypes, shapes, metadata and values, with the data 8-byte aligned", async () => {
    const path = join(dir, "roundtrip.safetensors");
    const bytes = await writeSafetensors(path, tensors, (t) => encodeF32(values[t.name]!, dtypes[t.dtype as keyof typeof dtypes]), metadata);
    const reader = await openSafetensors(path);
    try {
      const { header } = reader;
      expect(header.fileBytes).toBe(bytes);
      expect(header.dataStart % 8).toBe(0);
      expect(header.metadata).toEqual(metadata);
      // Stable order: by the names' bytes, whatever order they were given in.
      expect(header.tensors.map((t) => t.name)).toEqual(["0", "a.bias", "b.weight", "c.table", "empty"]);
      for (const t of tensors) {
        const read = header.tensors.find((e) => e.name === t.name)!;
        expect([read.dtype, read.shape]).toEqual([t.dtype, t.shape]);
        expect(await reader.readF32(t.name)).toEqual(values[t.name]);
      }
      expect([...(await reader.bytes("a.bias"))]).toEqual([0x00, 0x3c, 0x00, 0xc0, 0x55, 0x35]);
      await expect(reader.readF32("nope")).rejects.toThrow("tensor `nope` is not in the file");
    } finally {
      await reader.close();
    }
  });

  it("lays out the same file for the same tensors in any order", () => {
    const a = layoutHeader(tensors, metadata).header;
    const b = layoutHeader([...tensors].reverse(), { note: "é", "2": metadata["2"], format: "pt" }).header;
    expect(a.equals(b)).toBe(true);
    const length = Number(a.readBigUInt64LE(0));
    expect(length % 8).toBe(0);
    expect(a.subarray(8).toString("utf8").trimEnd().endsWith("}")).toBe(true);
  });

  it("refuses to write duplicate, reserved or empty names and bad shapes", () => {
    const t = (name: string, shape: number[] = [1]): TensorToWrite => ({ name, dtype: "F32", shape });
    expect(() => layoutHeader([t("x"), t("x")])).toThrow("tensor `x` is listed twice");
    expect(() => layoutHeader([t("__metadata__")])).toThrow("tensor `__metadata__`: the name is reserved");
    expect(() => layoutHeader([t("")])).toThrow("a tensor has an empty name");
    expect(() => layoutHeader([t("y", [2, -1])])).toThrow("tensor `y`: shape [2, -1] must hold non-negative integers");
  });

  it("reads integer and f64 tensors, and refuses 8-bit floats by name", async () => {
    const header = JSON.stringify({ i: entry("I32", [2], 0, 8), d: entry("F64", [1], 8, 16), f8: entry("F8_E4M3", [8], 16, 24) });
    const data = Buffer.alloc(24);
    data.writeInt32LE(-7, 0);
    data.writeInt32LE(9, 4);
    data.writeDoubleLE(0.1, 8);
    const reader = await openSafetensors(rawFile(header, data));
    try {
      expect([...(await reader.readF32("i"))]).toEqual([-7, 9]);
      expect((await reader.readF32("d"))[0]).toBe(Math.fround(0.1));
      await expect(reader.readF32("f8")).rejects.toThrow("tensor `f8`: dtype F8_E4M3 has no conversion to f32");
    } finally {
      await reader.close();
    }
  });
});

describe("header validation: every refusal names the problem", () => {
  it("a file shorter than the length prefix", async () => {
    const path = join(dir, "short.safetensors");
    writeFileSync(path, Buffer.alloc(5));
    expect(await refusal(path)).toBe("the file has 5 bytes, fewer than the 8 of the header length");
  });

  it("a header length above the format's limit or past the end of the file", async () => {
    expect(await refusal(rawFile("{}", 0, BigInt(MAX_HEADER_BYTES + 1)))).toBe(
      `the header length ${MAX_HEADER_BYTES + 1} is above the format's limit of ${MAX_HEADER_BYTES} bytes`,
    );
    expect(await refusal(rawFile("{}", 0, 100n))).toBe("the header length 100 runs past the end of the file (10 bytes)");
  });

  it("a header that is not a JSON object, not JSON, or not UTF-8", async () => {
    expect(await refusal(rawFile("[1, 2]"))).toBe("the header must be a JSON object starting with `{`");
    expect(await refusal(rawFile(" {}"))).toBe("the header must be a JSON object starting with `{`");
    expect(await refusal(rawFile("{\"a\": }"))).toMatch(/^the header is not valid UTF-8 JSON: /);
    expect(await refusal(rawFile(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])))).toMatch(/^the header is not valid UTF-8 JSON: /);
  });

  it("metadata that is not a map of strings", async () => {
    expect(await refusal(rawFile(JSON.stringify({ __metadata__: [] })))).toBe("`__metadata__` must be an object of strings");
    expect(await refusal(rawFile(JSON.stringify({ __metadata__: { seed: 3 } })))).toBe("`__metadata__` entry `seed` must be a string, not 3");
  });

  it("a tensor entry that is not an object, or has an unknown field", async () => {
    expect(await refusal(rawFile(JSON.stringify({ w: [1] })))).toBe("tensor `w`: its header entry must be an object with dtype, shape and data_offsets");
    expect(await refusal(rawFile(JSON.stringify({ w: { ...entry("F32", [1], 0, 4), stride: [1] } }), 4))).toBe("tensor `w`: unknown field `stride`");
  });

  it("an unknown dtype", async () => {
    expect(await refusal(rawFile(JSON.stringify({ w: entry("F17", [1], 0, 4) }), 4))).toMatch(/^tensor `w`: unknown dtype "F17" \(known: BOOL, U8, .*, F32, F64, I64, U64\)$/);
    expect(await refusal(rawFile(JSON.stringify({ w: entry("f32", [1], 0, 4) }), 4))).toMatch(/^tensor `w`: unknown dtype "f32"/);
  });

  it("a shape that is not a list of non-negative integers", async () => {
    expect(await refusal(rawFile(JSON.stringify({ w: entry("F32", [2, -1], 0, 4) }), 4))).toBe("tensor `w`: shape must be a list of non-negative integers, not [2,-1]");
    expect(await refusal(rawFile(JSON.stringify({ w: entry("F32", [1.5], 0, 4) }), 4))).toBe("tensor `w`: shape must be a list of non-negative integers, not [1.5]");
    expect(await refusal(rawFile(JSON.stringify({ w: { dtype: "F32", shape: 4, data_offsets: [0, 16] } }), 16))).toBe(
      "tensor `w`: shape must be a list of non-negative integers, not 4",
    );
  });

  it("data offsets that are not two non-negative integers, or end before they begin", async () => {
    expect(await refusal(rawFile(JSON.stringify({ w: { dtype: "F32", shape: [1], data_offsets: [0] } }), 4))).toBe(
      "tensor `w`: data_offsets must be two non-negative integers [begin, end], not [0]",
    );
    expect(await refusal(rawFile(JSON.stringify({ w: { dtype: "F32", shape: [1], data_offsets: [0, "4"] } }), 4))).toBe(
      'tensor `w`: data_offsets must be two non-negative integers [begin, end], not [0,"4"]',
    );
    expect(await refusal(rawFile(JSON.stringify({ w: entry("F32", [0], 4, 0) }), 4))).toBe("tensor `w`: data_offsets [4, 0] end before they begin");
  });

  it("a byte range whose size is not shape × dtype size", async () => {
    expect(await refusal(rawFile(JSON.stringify({ w: entry("BF16", [2, 3], 0, 24) }), 24))).toBe(
      "tensor `w`: data_offsets [0, 24] hold 24 bytes, but BF16 [2, 3] needs 12",
    );
  });

  it("overlapping tensors", async () => {
    const header = JSON.stringify({ a: entry("F32", [2], 0, 8), b: entry("F32", [2], 4, 12) });
    expect(await refusal(rawFile(header, 12))).toBe("tensor `b`: data_offsets [4, 12] overlap tensor `a` [0, 8]");
  });

  it("a gap before the first tensor or between two", async () => {
    expect(await refusal(rawFile(JSON.stringify({ a: entry("F32", [1], 4, 8) }), 8))).toBe(
      "tensor `a`: data_offsets begin at 4, leaving bytes 0..4 at the start of the data unused",
    );
    const header = JSON.stringify({ a: entry("F32", [1], 0, 4), b: entry("F32", [1], 8, 12) });
    expect(await refusal(rawFile(header, 12))).toBe("tensor `b`: data_offsets begin at 8, leaving bytes 4..8 after tensor `a` unused");
  });

  it("a tensor past the end of the file (truncated)", async () => {
    expect(await refusal(rawFile(JSON.stringify({ a: entry("F32", [4], 0, 16) }), 10))).toBe(
      "tensor `a`: data_offsets [0, 16] run past the end of the data (10 bytes): the file is truncated",
    );
  });

  it("data that no tensor covers", async () => {
    expect(await refusal(rawFile(JSON.stringify({ a: entry("F32", [1], 0, 4) }), 6))).toBe(
      "the data section has 2 bytes after the last tensor `a` that no tensor covers",
    );
    expect(await refusal(rawFile("{}", 3))).toBe("the data section has 3 bytes but the header lists no tensors");
  });

  it("a duplicated name leaves its first byte range uncovered", async () => {
    const header = '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}';
    expect(await refusal(rawFile(header, 8))).toBe("tensor `a`: data_offsets begin at 4, leaving bytes 0..4 at the start of the data unused");
  });

  it("accepts trailing space padding, zero-size tensors and an empty file body", () => {
    const ok = parseHeader(Buffer.from(`${JSON.stringify({ e: entry("F32", [0], 0, 0), a: entry("U8", [3], 0, 3) })}      `), 3);
    expect(ok.tensors.map((t) => t.name)).toEqual(["e", "a"]);
    expect(parseHeader(Buffer.from("{}"), 0).tensors).toEqual([]);
  });
});
