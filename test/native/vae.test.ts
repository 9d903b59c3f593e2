/**
 * The native CPU VAE decode (native/src/runtime/decode.cpp; kernels cpu/conv2d.cpp, group_norm.cpp,
 * upsample_nearest.cpp, cross_attention.cpp without a mask) against the PyTorch goldens of the SD-VAE decoder
 * (test/fixtures/goldens/vae, test/reference/vae/make_vae_goldens.py: float64, tiny widths, seeded weights):
 * every stage's output (captured after the op that ends it, pass by pass) and the video, max|a − b| / max|b| ≤
 * 1e-5 like the DiT goldens (PyTorch's own float32 replay is within 1.1e-6, the sidecar's record). The plans'
 * decode sections are written here (vae-plan.ts, the contract's fields); each run takes zero DiT steps, so the
 * final latent the decode reads is the golden's latent given as the noise.
 *
 * Then what must give the same bits: a checkpoint in the original LDM naming (mid.block_1, up.3, attention
 * weights [C, C, 1, 1]) and in diffusers naming; 1 and 2 frames per pass; `checkpoint: random` and a file of
 * checkpoint/random.ts's tensors. And the run's edges: `decode: false`, the progress events, a checkpoint missing
 * a tensor, the CUDA backend without decode kernels.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fillNormals, tensorKey } from "../../checkpoint/generator.js";
import { randomTensor } from "../../checkpoint/random.js";
import { writeSafetensors } from "../../checkpoint/safetensors-write.js";
import { loadNative, type NativeProgress } from "../../runtime/native/addon.js";
import { maxRelativeError, readTensors, tensor } from "../helpers/goldens.js";
import { bitIdentical, record, removeTempDirs, report, tempDir, TOLERANCE } from "./support.js";
import { decoderWeights, ldmName, ldmShape } from "./vae-plan.js";
import { caseLatent, decodePlan, decodeRequest, ditPlan, runDecode, SIDE, vaeGolden, videoOf, VAE_WEIGHTS } from "./vae-support.js";

afterAll(() => {
  removeTempDirs();
  report("vae");
});

const whole = (i: number, framesPerPass = 1, checkpoint = "vae.safetensors") => {
  const c = SIDE.cases[i]!;
  return decodePlan(ditPlan(c), { ...c, framesPerPass, split: { kind: "whole" }, ranks: [0], checkpoint });
};

/** Writes float32 tensors to a safetensors file; returns its path. */
async function writeFile(name: string, tensors: readonly { name: string; shape: readonly number[]; data: Float32Array }[]): Promise<string> {
  const path = join(tempDir("opendit-vae-"), name);
  const byName = new Map(tensors.map((t) => [t.name, t.data]));
  await writeSafetensors(
    path,
    tensors.map((t) => ({ name: t.name, dtype: "F32" as const, shape: t.shape })),
    (t) => {
      const data = byName.get(t.name)!;
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    },
  );
  return path;
}

describe("the decoder's golden weights", () => {
  it("are the table vae-plan.ts lowers, name for name and shape for shape", () => {
    expect(decoderWeights(SIDE.decoder).map((w) => [w.name, w.shape])).toEqual(SIDE.weights.tensors.map((t) => [t.name, t.shape]));
  });

  it("are the generator's normals scaled by the sidecar's rules, with the sidecar's sha256", async () => {
    const weights = await readTensors(VAE_WEIGHTS);
    expect([...weights.keys()].sort()).toEqual(SIDE.weights.tensors.map((t) => t.name).sort());
    for (const t of SIDE.weights.tensors) {
      const stored = tensor(weights, t.name);
      expect(createHash("sha256").update(new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength)).digest("hex"), t.name).toBe(t.sha256);
      // conv and linear weights z / √fan_in, biases 0.2·z, GroupNorm weights 1 + 0.2·z (make_vae_goldens.py init_weight).
      const norm = /norm[^.]*\.weight$/.test(t.name);
      const fanIn = t.shape.slice(1).reduce((n, d) => n * d, 1);
      const scale = t.name.endsWith(".bias") ? (z: number) => 0.2 * z : norm ? (z: number) => 1 + 0.2 * z : (z: number) => z / Math.sqrt(fanIn);
      const drawn = new Float32Array(stored.length);
      fillNormals(tensorKey(SIDE.weights.seed, t.name), drawn, scale);
      expect(bitIdentical(drawn, stored), t.name).toBe(true);
    }
  });
});

describe.each(SIDE.cases.map((c, i) => [`case ${i}: ${c.samples} x ${c.frames} frames of ${c.height} x ${c.width}`, i] as const))("%s", (_name, i) => {
  it("every stage and the video match the PyTorch golden to 1e-5", async () => {
    const c = SIDE.cases[i]!;
    const { text, section } = whole(i);
    const golden = await vaeGolden();
    const captures = SIDE.stages.map((stage) => {
      const at = section.stages.get(stage);
      if (!at) throw new Error(`the plan has no op for stage ${stage}`);
      return { op: at.op, buffer: at.buffer, program: "decode" as const };
    });
    const result = await runDecode(decodeRequest(text, await caseLatent(i), { captures }));
    const video = videoOf(result);
    expect(video.shape).toEqual([c.samples, 3, c.frames, c.image.height, c.image.width]);
    const errors: Record<string, number> = {};
    SIDE.stages.forEach((stage, k) => {
      errors[stage] = record(`case ${i} ${stage}`, maxRelativeError(result.captures[k]!, tensor(golden, `case.${i}.${stage}`)));
    });
    errors["output"] = record(`case ${i} output`, maxRelativeError(video.data, tensor(golden, `case.${i}.output`)));
    for (const [stage, e] of Object.entries(errors)) expect(e, `case ${i} ${stage}: max relative error ${e}`).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe("what gives the decode's bits exactly", () => {
  it("1 and 2 frames per pass", async () => {
    const latent = await caseLatent(0);
    const one = videoOf(await runDecode(decodeRequest(whole(0, 1).text, latent)));
    const two = videoOf(await runDecode(decodeRequest(whole(0, 2).text, latent)));
    expect(bitIdentical(one.data, two.data)).toBe(true);
  });

  it("a checkpoint in the original LDM naming (attention weights [C, C, 1, 1], an encoder tensor unread) and in diffusers naming", async () => {
    const weights = await readTensors(VAE_WEIGHTS);
    const blocks = SIDE.decoder.block_out_channels.length;
    const ldm = SIDE.weights.tensors.map((t) => ({ name: ldmName(t.name, blocks), shape: ldmShape(t.name, t.shape), data: tensor(weights, t.name) }));
    expect(ldm.some((t) => t.name === "decoder.mid.attn_1.q.weight" && t.shape.length === 4)).toBe(true);
    expect(ldm.some((t) => t.name.startsWith("decoder.up.0.block.0.nin_shortcut"))).toBe(true);
    ldm.push({ name: "encoder.conv_in.weight", shape: [4, 3, 3, 3], data: new Float32Array(108).fill(0.5) });
    const path = await writeFile("ldm.safetensors", ldm);
    const latent = await caseLatent(1);
    const plan = whole(1).text;
    const diffusers = videoOf(await runDecode(decodeRequest(plan, latent)));
    const original = videoOf(await runDecode(decodeRequest(plan, latent, { decodeWeights: { kind: "file", path, ignore: [] } })));
    expect(bitIdentical(original.data, diffusers.data)).toBe(true);
  });

  it("checkpoint: random and a file of checkpoint/random.ts's tensors of the same seed", async () => {
    const seed = 11;
    const plan = decodePlan(ditPlan(SIDE.cases[1]!), { ...SIDE.cases[1]!, framesPerPass: 1, split: { kind: "whole" }, ranks: [0], checkpoint: "random", weightsSeed: seed }).text;
    const path = await writeFile(
      "random.safetensors",
      decoderWeights(SIDE.decoder).map((w) => ({ name: w.name, shape: w.shape, data: randomTensor(seed, w.name, w.shape) })),
    );
    const latent = await caseLatent(1);
    const { decodeWeights: _file, ...drawn } = decodeRequest(plan, latent);
    const fromSeed = videoOf(await runDecode(drawn));
    const fromFile = videoOf(await runDecode(decodeRequest(plan, latent, { decodeWeights: { kind: "file", path, ignore: [] } })));
    expect(fromSeed.data.some((v) => v !== 0)).toBe(true);
    expect(bitIdentical(fromSeed.data, fromFile.data)).toBe(true);
  });
});

describe("the decode in a run", () => {
  it("reports a decode event per pass before done, and decode: false returns the latents only", async () => {
    const latent = await caseLatent(0);
    const { text } = whole(0);
    const events: NativeProgress[] = [];
    const result = await runDecode(decodeRequest(text, latent), (p) => events.push(p));
    const passes = SIDE.cases[0]!.frames;
    expect(events.filter((e) => e.phase === "decode").map((e) => [e.step, e.steps])).toEqual(Array.from({ length: passes }, (_, k) => [k + 1, passes]));
    expect(events.at(-1)?.phase).toBe("done");
    expect(result.outputs.map((o) => o.name)).toEqual(["latents", "video"]);
    expect(result.timings.decode).toBeGreaterThan(0);
    const off = await runDecode(decodeRequest(text, latent, { decode: false }));
    expect(off.outputs.map((o) => o.name)).toEqual(["latents"]);
  });

  it("refuses a checkpoint that lacks a tensor, naming it and its LDM name", async () => {
    const weights = await readTensors(VAE_WEIGHTS);
    const path = await writeFile(
      "short.safetensors",
      SIDE.weights.tensors.filter((t) => t.name !== "decoder.conv_norm_out.weight").map((t) => ({ name: t.name, shape: t.shape, data: tensor(weights, t.name) })),
    );
    const run = runDecode(decodeRequest(whole(1).text, await caseLatent(1), { decodeWeights: { kind: "file", path, ignore: [] } }));
    await expect(run).rejects.toThrow(/missing tensor `decoder\.conv_norm_out\.weight` \(nor `decoder\.norm_out\.weight`\)/);
  });

  it("refuses a malformed decode section, naming its JSON path", async () => {
    const { text } = whole(1);
    const latent = await caseLatent(1);
    const edit = (change: (decode: Record<string, unknown>) => void): string => {
      const plan = JSON.parse(text) as { decode: Record<string, unknown> };
      change(plan.decode);
      return JSON.stringify(plan);
    };
    const kernel2 = edit((d) => ((d["program"] as Record<string, unknown>[])[0]!["kernel"] = 2));
    await expect(runDecode(decodeRequest(kernel2, latent))).rejects.toThrow("plan.decode.program[0].kernel: expected 1 or 3, got 2");
    const parts3 = edit((d) => (d["split"] = { kind: "patch", axis: "decode", parts: 3 }));
    await expect(runDecode(decodeRequest(parts3, latent))).rejects.toThrow("plan.decode.split.parts: 3 parts do not divide the latent's 8 rows");
    const groups3 = edit((d) => ((d["program"] as Record<string, unknown>[])[2]!["groups"] = 3));
    await expect(runDecode(decodeRequest(groups3, latent))).rejects.toThrow("plan.decode.program[2].groups: 3 groups do not divide 16 channels");
  });

  it.runIf(!loadNative().info().backends.cuda.built)("on a build without the CUDA backend, asking for it fails naming why", async () => {
    const run = runDecode(decodeRequest(whole(1).text, await caseLatent(1), { backend: "cuda" }));
    await expect(run).rejects.toThrow(loadNative().info().backends.cuda.reason);
  });
});
