/** `opendit checkpoint random` and `inspect` through the CLI, in-process: files, listings, and the loader's messages. */
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeSafetensors, type TensorToWrite } from "../../checkpoint/safetensors-write.js";
import { dit } from "../../compiler/models/dit.js";
import { run } from "../cli/support/capture-io.js";
import { fixtureDir } from "../cli/support/fixture-dir.js";

const root = fixtureDir({});
const DIT_TINY = dit.weights(dit.resolve(dit.variants["dit-tiny"]!));

/** Writes a file of F32 zeros with these tensors. */
async function fileOf(name: string, tensors: readonly TensorToWrite[]): Promise<void> {
  await writeSafetensors(join(root, name), tensors, (t) => new Uint8Array(t.shape.reduce((a, b) => a * b, 1) * (t.dtype === "I32" || t.dtype === "F32" ? 4 : 2)));
}

const asF32 = (w: { name: string; shape: readonly number[] }): TensorToWrite => ({ name: w.name, dtype: "F32", shape: w.shape });

describe("opendit checkpoint random", () => {
  it("writes every tensor of the family and size, then inspect finds it matching", async () => {
    const written = await run(["checkpoint", "random", "--family", "dit", "--variant", "dit-tiny", "--seed", "3", "--dtype", "fp16", "-o", "dit.safetensors"], { cwd: root });
    expect(written.stderr).toBe("");
    expect(written.code).toBe(0);
    expect(written.stdout).toMatch(/^wrote dit\.safetensors: dit dit-tiny, 31 tensors, [\d,]+ parameters, fp16, seed 3 \([\d.]+ KiB\)\n$/);
    expect(DIT_TINY).toHaveLength(31);

    const inspected = await run(["checkpoint", "inspect", "dit.safetensors", "--family", "dit", "--variant", "dit-tiny"], { cwd: root });
    expect(inspected.stderr).toBe("");
    expect(inspected.code).toBe(0);
    const lines = inspected.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^dit\.safetensors: 31 tensors, [\d,]+ parameters, [\d.]+ KiB$/);
    expect(lines[1]).toBe("metadata: format=pt, opendit.family=dit, opendit.generator=opendit-random-v1, opendit.seed=3, opendit.variant=dit-tiny");
    expect(lines.find((line) => line.startsWith("  x_embedder.proj.weight "))).toMatch(/^ {2}x_embedder\.proj\.weight +F16 {2}\[64, 4, 2, 2\]$/);
    expect(lines.at(-1)).toBe("dit.safetensors: matches dit dit-tiny: all 31 tensors the model reads");
  });

  it("takes explicit hyperparameters, and the family's first variant when given no size", async () => {
    const hyper = await run(["checkpoint", "random", "--family", "stdit3", "--hyper", '{"hidden":32,"depth":1,"heads":2,"caption_channels":16}', "-o", "h.safetensors"], { cwd: root });
    expect(hyper.code).toBe(0);
    expect(hyper.stdout).toContain('stdit3 {"hidden":32,"depth":1,"heads":2,"caption_channels":16}');
    const check = await run(["checkpoint", "inspect", "h.safetensors", "--family", "stdit3", "--hyper", '{"hidden":32,"depth":1,"heads":2,"caption_channels":16}'], { cwd: root });
    expect(check.code).toBe(0);
    const against = await run(["checkpoint", "inspect", "h.safetensors", "--family", "stdit3", "--variant", "stdit3-tiny"], { cwd: root });
    expect(against.code).toBe(1);
  });

  it.each([
    [["--family", "dit", "--variant", "DiT-Q/2"], "opendit: dit has no variant `DiT-Q/2` (variants: DiT-XL/2, "],
    [["--family", "dit", "--variant", "dit-tiny", "--hyper", "{}"], "opendit: give --variant or --hyper, not both"],
    [["--family", "dit", "--hyper", "{hidden: 3}"], "opendit: --hyper is not valid JSON: "],
    [["--family", "dit", "--hyper", '{"hidden":64,"depth":2,"heads":0}'], "opendit: --hyper /heads: Expected integer to be greater or equal to 1"],
    [["--family", "dit", "--hyper", '{"hidden":64,"depth":2,"heads":4,"width":3}'], "opendit: --hyper /width: Unexpected property"],
    [["--family", "dit", "--hyper", '{"hidden":64,"depth":2,"heads":3}'], "opendit: --hyper: hidden 64 is not divisible by heads 3"],
    [["--family", "dit", "--seed", "-3"], "error: "],
    [["--family", "dit", "--seed", "9007199254740992"], "error: option '--seed <n>' argument '9007199254740992' is invalid. Expected a whole number from 0 to 9007199254740991."],
    [["--family", "ditt"], "error: option '--family <family>' argument 'ditt' is invalid. Allowed choices are dit, "],
    [["--family", "dit", "--dtype", "fp8"], "error: option '--dtype <dtype>' argument 'fp8' is invalid."],
  ])("refuses %j with a usage error (exit 2) and writes nothing", async (flags, message) => {
    const result = await run(["checkpoint", "random", ...flags, "-o", "refused.safetensors"], { cwd: root });
    expect(result.code).toBe(2);
    expect(result.stderr.startsWith(message)).toBe(true);
    expect(existsSync(join(root, "refused.safetensors"))).toBe(false);
  });

  it("requires --family and -o", async () => {
    expect((await run(["checkpoint", "random", "-o", "x.safetensors"], { cwd: root })).stderr).toContain("required option '--family <family>' not specified");
    expect((await run(["checkpoint", "random", "--family", "dit"], { cwd: root })).stderr).toContain("required option '-o, --output <file>' not specified");
  });

  it("an output it cannot write is exit 2, leaving no temporary file", async () => {
    const result = await run(["checkpoint", "random", "--family", "dit", "--variant", "dit-tiny", "-o", "missing/dir/x.safetensors"], { cwd: root });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^opendit: cannot write `missing\/dir\/x\.safetensors`: ENOENT/);
    expect(readdirSync(root).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });
});

describe("opendit checkpoint inspect against a family", () => {
  it("reports a missing, an unexpected and a mis-shaped tensor by name, with the expected shape (exit 1)", async () => {
    const tensors = DIT_TINY.filter((w) => w.name !== "blocks.1.mlp.fc2.bias").map((w) =>
      w.name === "final_layer.linear.weight" ? { ...asF32(w), shape: [16, 32] } : asF32(w),
    );
    await fileOf("bad.safetensors", [...tensors, { name: "blocks.0.attn.extra", dtype: "F32", shape: [3] }]);
    const result = await run(["checkpoint", "inspect", "bad.safetensors", "--family", "dit", "--variant", "dit-tiny"], { cwd: root });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      [
        "bad.safetensors: missing tensor `blocks.1.mlp.fc2.bias` (expected shape [64])",
        "bad.safetensors: tensor `final_layer.linear.weight` has shape [16, 32], expected [32, 64]",
        "bad.safetensors: unexpected tensor `blocks.0.attn.extra` [3]: the model does not read it",
        "bad.safetensors: 3 problems against dit dit-tiny",
        "",
      ].join("\n"),
    );
    // The listing still comes first, on stdout.
    expect(result.stdout).toMatch(/^bad\.safetensors: 31 tensors, /);
  });

  it("reports a weight of a dtype the loader does not convert", async () => {
    await fileOf("int.safetensors", DIT_TINY.map((w) => (w.name === "x_embedder.proj.bias" ? { ...asF32(w), dtype: "I32" } : asF32(w))));
    const result = await run(["checkpoint", "inspect", "int.safetensors", "--family", "dit", "--variant", "dit-tiny"], { cwd: root });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("int.safetensors: tensor `x_embedder.proj.bias` has dtype I32; weights must be F32, F16, BF16\n");
    expect(result.stderr).toContain("int.safetensors: 1 problem against dit dit-tiny\n");
  });

  it("accepts the tensors the family skips (fixed sin-cos tables), saying so", async () => {
    await fileOf("pos.safetensors", [...DIT_TINY.map(asF32), { name: "pos_embed", dtype: "F32", shape: [1, 256, 64] }]);
    const result = await run(["checkpoint", "inspect", "pos.safetensors", "--family", "dit", "--variant", "dit-tiny"], { cwd: root });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("pos.safetensors: matches dit dit-tiny: all 31 tensors the model reads; skipped as the loader does: pos_embed\n");
  });
});

describe("opendit checkpoint inspect on its own", () => {
  it("lists any valid file without a family (exit 0)", async () => {
    await fileOf("plain.safetensors", [{ name: "w", dtype: "F32", shape: [2, 2] }]);
    const result = await run(["checkpoint", "inspect", "plain.safetensors"], { cwd: root });
    expect(result).toEqual({ code: 0, stdout: "plain.safetensors: 1 tensor, 4 parameters, 88 B\n  w  F32  [2, 2]\n", stderr: "" });
  });

  it("a file that is not valid safetensors is exit 1, naming the problem", async () => {
    writeFileSync(join(root, "junk.safetensors"), "not a checkpoint at all");
    const result = await run(["checkpoint", "inspect", "junk.safetensors"], { cwd: root });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^junk\.safetensors: not a valid safetensors file: the header length \d+ is above the format's limit/);
  });

  it("a file that cannot be read, or a size without a family, is exit 2", async () => {
    const missing = await run(["checkpoint", "inspect", "nope.safetensors"], { cwd: root });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^opendit: cannot read `nope\.safetensors`: ENOENT/);
    const orphan = await run(["checkpoint", "inspect", "plain.safetensors", "--variant", "dit-tiny"], { cwd: root });
    expect(orphan).toEqual({ code: 2, stdout: "", stderr: "opendit: --variant and --hyper need --family\n" });
  });
});
