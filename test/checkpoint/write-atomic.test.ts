/** Writes are atomic: nothing but the target is left behind, and a failed write leaves no file and no partial one. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSafetensorsHeader } from "../../checkpoint/safetensors.js";
import { writeSafetensors, type TensorToWrite } from "../../checkpoint/safetensors-write.js";

const root = mkdtempSync(join(tmpdir(), "opendit-atomic-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TENSORS: TensorToWrite[] = [
  { name: "a", dtype: "F32", shape: [4] },
  { name: "b", dtype: "F32", shape: [2] },
];

/** An empty directory of its own, so a test sees exactly what the write left. */
function freshDir(name: string): string {
  return mkdtempSync(join(root, `${name}-`));
}

describe("atomic safetensors writes", () => {
  it("leaves only the target in the directory", async () => {
    const dir = freshDir("ok");
    await writeSafetensors(join(dir, "w.safetensors"), TENSORS, (t) => new Uint8Array(t.shape[0]! * 4));
    expect(readdirSync(dir)).toEqual(["w.safetensors"]);
    expect((await readSafetensorsHeader(join(dir, "w.safetensors"))).tensors.map((t) => t.name)).toEqual(["a", "b"]);
  });

  it("a tensor that fails midway leaves no file and no temporary file", async () => {
    const dir = freshDir("throws");
    const write = writeSafetensors(join(dir, "w.safetensors"), TENSORS, (t) => {
      if (t.name === "b") throw new Error("the generator failed");
      return new Uint8Array(16);
    });
    await expect(write).rejects.toThrow("the generator failed");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a tensor of the wrong size is refused by name, leaving nothing", async () => {
    const dir = freshDir("short");
    const write = writeSafetensors(join(dir, "w.safetensors"), TENSORS, () => new Uint8Array(16));
    await expect(write).rejects.toThrow("tensor `b`: got 16 bytes, but F32 [2] needs 8");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a failed rewrite keeps the old file whole", async () => {
    const dir = freshDir("keep");
    const path = join(dir, "w.safetensors");
    await writeSafetensors(path, TENSORS, (t) => new Uint8Array(t.shape[0]! * 4).fill(7));
    const before = readFileSync(path);
    await expect(
      writeSafetensors(path, TENSORS, () => {
        throw new Error("disk full");
      }),
    ).rejects.toThrow("disk full");
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(["w.safetensors"]);
  });

  it("a directory that does not exist is an error before anything is written", async () => {
    await expect(writeSafetensors(join(root, "no", "such", "w.safetensors"), TENSORS, () => new Uint8Array(0))).rejects.toThrow(/ENOENT/);
  });
});
