/**
 * The golden files of test/fixtures/goldens (made by test/reference/make_goldens.py on the GPU machine, from the
 * PyTorch reference forwards in test/reference/models) still fit the compiler: every golden's checkpoint (not
 * stored: drawn by test/helpers/golden-weights.ts) is exactly the registry's table of the family's tiny variant
 * and bit for bit the one the reference ran (each tensor's sha256), its inputs, block outputs and output have
 * the shapes the plan of its pipeline gives them, its text is the one sample the pipeline's embeddings file
 * holds, and its positional scales, fps and sampler steps are the plan's. A registry or lowering change that
 * would make the goldens meaningless fails here, in CI, where no Python runs; README.md in this folder says how
 * to regenerate them. Files are read with the project's strict reader (checkpoint/safetensors.ts).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { encodeF32 } from "../../checkpoint/dtype.js";
import { openSafetensors, readSafetensorsHeader, type SafetensorsHeader, type TensorEntry } from "../../checkpoint/safetensors.js";
import { compile } from "../../compiler/compile.js";
import { familyInfo, knownFamilies } from "../../compiler/models/registry.js";
import type { Hyper, ModelFamily, WeightInfo } from "../../compiler/models/types.js";
import type { Op } from "../../compiler/plan/ops.js";
import type { Plan, PlanBuffer } from "../../compiler/plan/types.js";
import type { Family, Spec } from "../../compiler/spec/schema.js";
import { goldenWeight, writeGoldenCheckpoint } from "../helpers/golden-weights.js";

const here = dirname(fileURLToPath(import.meta.url));
const goldenDir = join(here, "../fixtures/goldens");
const tablesPath = join(here, "weights-tables.json");

/** Families with a forward golden: every family the registry has a tiny variant of. */
const FORWARD_FAMILIES: readonly Family[] = ["dit", "pixart", "latte", "latte-t2v", "stdit", "stdit3", "opensora-plan"];
const SAMPLERS = [
  { sampler: "ddim", family: "stdit" },
  { sampler: "rflow", family: "stdit3" },
] as const;

interface ForwardSidecar {
  readonly kind: "forward";
  readonly family: Family;
  readonly variant: string;
  readonly file: string;
  readonly pipeline: string;
  readonly hyper: Hyper;
  readonly weights: {
    readonly file: string;
    readonly seed: number;
    readonly dtype: string;
    readonly sha256: Readonly<Record<string, string>>;
  };
  readonly samples: number;
  readonly batch: number;
  readonly latent: { readonly channels: number; readonly frames: number; readonly height: number; readonly width: number };
  readonly positions: {
    readonly grid: readonly [number, number, number];
    readonly spatial: { readonly row_scale: number; readonly col_scale: number };
    readonly temporal?: { readonly scale: number };
  };
  readonly blocks: readonly string[];
  readonly output_channels: number;
  readonly fps?: number;
  readonly conditioning: {
    readonly labels?: readonly number[];
    readonly null_label?: number;
    readonly valid_tokens?: readonly number[];
    /** The pipeline's embeddings file, by the names of the golden's tensors it holds. */
    readonly embeddings?: { readonly file: string; readonly y: string; readonly mask: string; readonly negative_y?: string };
  };
  readonly float32_relative_error: Readonly<Record<string, number>>;
}

interface SamplerSidecar {
  readonly kind: "sampler";
  readonly sampler: "ddim" | "rflow";
  readonly family: Family;
  readonly variant: string;
  readonly file: string;
  readonly forward_file: string;
  readonly pipeline: string;
  readonly samples: number;
  readonly steps: number;
  readonly guidance: number;
  readonly cfg_channels: number;
  readonly timesteps: readonly number[];
  readonly alphas_cumprod?: readonly number[];
  readonly alphas_cumprod_prev?: readonly number[];
  readonly dt?: readonly number[];
  readonly float32_relative_error: { readonly latent: readonly number[] };
}

interface TinyTable {
  readonly variant: string;
  readonly hyper: Hyper;
  readonly weights: readonly WeightInfo[];
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

function family(name: Family): ModelFamily {
  const f = familyInfo(name);
  if (!f) throw new Error(`no family ${name}`);
  return f;
}

/** The registry's hyperparameters and checkpoint table of a named variant. */
function registryTable(name: Family, variant: string): { hyper: Hyper; weights: WeightInfo[] } {
  const f = family(name);
  const input = f.variants[variant];
  if (!input) throw new Error(`${name} has no variant ${variant}`);
  const hyper = f.resolve(input);
  return { hyper, weights: f.weights(hyper) };
}

/** The plan of a golden's pipeline (its checkpoint and embeddings files taken to exist), and its checked Spec. */
function compiled(pipeline: string): { plan: Plan; spec: Spec } {
  const r = compile(pipeline, { fileExists: () => true });
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (!r.plan || !r.spec) throw new Error("no plan");
  return { plan: r.plan, spec: r.spec };
}

function buffer(plan: Plan, name: string): PlanBuffer {
  const b = plan.buffers.find((x) => x.name === name);
  if (!b) throw new Error(`the plan has no buffer ${name}`);
  return b;
}

function tensor(header: SafetensorsHeader, name: string): TensorEntry {
  const t = header.tensors.find((e) => e.name === name);
  if (!t) throw new Error(`the golden has no tensor ${name}`);
  return t;
}

const names = (header: SafetensorsHeader): string[] => header.tensors.map((t) => t.name);

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

function setupOps<K extends Op["op"]>(plan: Plan, op: K): Extract<Op, { op: K }>[] {
  return plan.program.setup.filter((o): o is Extract<Op, { op: K }> => o.op === op);
}

function closeTo(actual: number, expected: number, relative = 1e-9): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(relative * Math.max(Math.abs(expected), 1));
}

const sidecars = readdirSync(goldenDir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => readJson<ForwardSidecar | SamplerSidecar>(join(goldenDir, f)));
const forwards = sidecars.filter((s): s is ForwardSidecar => s.kind === "forward");
const samplers = sidecars.filter((s): s is SamplerSidecar => s.kind === "sampler");

/**
 * Every golden's validated header, read before the suites are built. The reader refuses a malformed file (the
 * tensors must tile the data section exactly, each as long as its dtype and shape need), naming the problem.
 */
const headers = new Map(
  await Promise.all(sidecars.filter((s) => existsSync(join(goldenDir, s.file))).map(async (s) => [s.file, await readSafetensorsHeader(join(goldenDir, s.file))] as const)),
);

function headerOf(file: string): SafetensorsHeader {
  const h = headers.get(file);
  if (!h) throw new Error(`no golden file ${file}`);
  return h;
}

/** Golden checkpoints are written here by writeGoldenCheckpoint, as the native tests will write them. */
const scratch = mkdtempSync(join(tmpdir(), "opendit-goldens-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("weights-tables.json", () => {
  it("is the registry's table of every tiny variant, in registry order", () => {
    const tables = readJson<Record<string, TinyTable>>(tablesPath);
    const expected: Record<string, TinyTable> = {};
    for (const f of knownFamilies()) {
      const variant = `${f.family}-tiny`;
      if (!f.variants[variant]) continue;
      const { hyper, weights } = registryTable(f.family, variant);
      expected[f.family] = { variant, hyper, weights: weights.map((w) => ({ name: w.name, shape: [...w.shape] })) };
    }
    expect(tables).toEqual(expected);
  });
});

describe("golden files", () => {
  it("cover every family the native CPU backend is checked on, and both samplers", () => {
    expect(forwards.map((s) => s.family).sort()).toEqual([...FORWARD_FAMILIES].sort());
    expect(samplers.map((s) => ({ sampler: s.sampler, family: s.family }))).toEqual(expect.arrayContaining([...SAMPLERS]));
    expect(samplers).toHaveLength(SAMPLERS.length);
    for (const s of sidecars) expect(existsSync(join(goldenDir, s.file)), s.file).toBe(true);
  });
});

describe.each(forwards.map((s) => [s.family, s] as const))("%s forward golden", (_name, side) => {
  const path = join(goldenDir, side.file);
  const header = headerOf(side.file);
  const { plan, spec } = compiled(side.pipeline);
  const { hyper, weights } = registryTable(side.family, side.variant);

  it("is a well-formed safetensors file holding inputs, block outputs and the output, and no weights", () => {
    expect(header.fileBytes).toBe(statSync(path).size);
    expect(names(header).filter((n) => !/^(input|block)\.|^output$/.test(n))).toEqual([]);
  });

  it("ran the registry's checkpoint of the tiny variant, which golden-weights.ts draws bit for bit", () => {
    expect(side.variant).toBe(`${side.family}-tiny`);
    expect(side.hyper).toEqual(hyper);
    expect(side.weights.dtype).toBe("F32");
    expect(Object.keys(side.weights.sha256).sort()).toEqual(weights.map((w) => w.name).sort());
    const differing = weights.filter((w) => sha256(encodeF32(goldenWeight(side.weights.seed, w.name, w.shape), "fp32")) !== side.weights.sha256[w.name]);
    expect(differing.map((w) => w.name)).toEqual([]);
  });

  it("names a checkpoint that writeGoldenCheckpoint writes: the plan's tensors, the reference's bytes", async () => {
    expect(spec.model.checkpoint).toBe(side.weights.file);
    const file = join(scratch, side.weights.file);
    await writeGoldenCheckpoint(file, side.weights.seed, plan.weights);
    const reader = await openSafetensors(file);
    try {
      const byName = new Map(reader.header.tensors.map((t) => [t.name, t]));
      expect([...byName.keys()].sort()).toEqual(plan.weights.map((w) => w.name).sort());
      for (const w of plan.weights) {
        expect(byName.get(w.name), w.name).toMatchObject({ dtype: "F32", shape: [...w.shape] });
        expect(sha256(await reader.bytes(w.name)), w.name).toBe(side.weights.sha256[w.name]);
      }
    } finally {
      await reader.close();
    }
  });

  it("was made for the plan its pipeline compiles to", () => {
    expect(plan.model.family).toBe(side.family);
    expect(plan.model.variant).toBe(side.variant);
    expect(plan.model.hyper).toEqual(hyper);
    expect(plan.geometry.samples).toBe(side.samples);
    expect(plan.geometry.batch).toBe(side.batch);
    expect(plan.schedule.guidance).not.toBeNull();
    const g = plan.geometry;
    expect(side.latent).toEqual({ channels: g.latent.channels, frames: g.latent.frames, height: g.latent.height, width: g.latent.width });
    // The plan reads every tensor of the table, under the same shapes.
    expect(plan.weights.map((w) => ({ name: w.name, shape: [...w.shape] })).sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      weights.map((w) => ({ name: w.name, shape: [...w.shape] })).sort((a, b) => a.name.localeCompare(b.name)),
    );
  });

  it("has inputs of the shapes the plan's input buffers take", () => {
    const latent = tensor(header, "input.latent");
    expect(latent.dtype).toBe("F32");
    expect(latent.shape).toEqual(buffer(plan, "latent").shape);
    const timestep = tensor(header, "input.timestep");
    expect(timestep.dtype).toBe("F32");
    expect(timestep.shape).toEqual(buffer(plan, "timestep").shape);

    const inputs = names(header).filter((n) => n.startsWith("input.")).sort();
    const sources = new Set(plan.inputs.map((i) => i.source));
    if (sources.has("labels")) {
      expect(inputs).toEqual(["input.labels", "input.latent", "input.timestep"]);
      const labels = tensor(header, "input.labels");
      const planLabels = buffer(plan, "labels");
      expect(labels.dtype).toBe("I32");
      expect(planLabels.dtype).toBe("i32");
      expect(labels.shape).toEqual([side.samples]);
      expect(planLabels.shape).toEqual([side.batch]);
      expect(side.conditioning.labels).toHaveLength(side.samples);
      expect(side.conditioning.null_label).toBe(hyper.numClasses);
    } else {
      // Conditional rows come from the prompts; the unconditional rows from the null caption (a weight) or a
      // negative prompt (a second text input), with the prompts' mask either way.
      const textRows = plan.inputs.filter((i) => i.buffer === "text");
      const negative = textRows.filter((i) => i.source === "text").length === 2;
      expect(inputs).toEqual(negative ? ["input.latent", "input.negative_text", "input.text", "input.text.mask", "input.timestep"] : ["input.latent", "input.text", "input.text.mask", "input.timestep"]);
      expect(textRows.some((i) => i.source === "null-text")).toBe(!negative);
      const planText = buffer(plan, "text").shape;
      const planMask = buffer(plan, "text.mask");
      expect(planText).toEqual([side.batch, hyper.textTokens, hyper.captionChannels]);
      for (const name of negative ? ["input.text", "input.negative_text"] : ["input.text"]) {
        const t = tensor(header, name);
        expect(t.dtype).toBe("F32");
        expect(t.shape).toEqual([side.samples, ...planText.slice(1)]);
      }
      const mask = tensor(header, "input.text.mask");
      expect(mask.dtype).toBe("I32");
      expect(planMask.dtype).toBe("i32");
      expect(mask.shape).toEqual([side.samples, ...planMask.shape.slice(1)]);
      expect(side.conditioning.valid_tokens).toHaveLength(side.samples);
      for (const n of side.conditioning.valid_tokens ?? []) {
        expect(n).toBeGreaterThan(0);
        expect(n).toBeLessThan(hyper.textTokens);
      }
      // The pipeline reads the text from an embeddings file of one sample (the tiny text has no encoder): the
      // sidecar says which of the golden's tensors it holds.
      expect(side.samples).toBe(1);
      expect(spec.conditioning?.prompts).toBeUndefined();
      expect(side.conditioning.embeddings).toEqual({
        file: spec.conditioning?.embeddings,
        y: "input.text",
        mask: "input.text.mask",
        ...(negative ? { negative_y: "input.negative_text" } : {}),
      });
    }
  });

  it("has the output of every block, over the plan's token grid, and the model output over its latent", () => {
    const f = family(side.family);
    const kinds = f.blocks === "interleaved" ? ["spatial", "temporal"] : ["spatial"];
    const expectedBlocks: string[] = [];
    for (let i = 0; i < hyper.depth; i++) for (const k of kinds) expectedBlocks.push(`block.${k}.${i}`);
    expect(side.blocks).toEqual(expectedBlocks);
    expect(names(header).filter((n) => n.startsWith("block.")).sort()).toEqual([...expectedBlocks].sort());
    const g = plan.geometry;
    const tokens = g.tokens.frames * g.tokens.rows * g.tokens.cols;
    for (const name of expectedBlocks) {
      const b = tensor(header, name);
      expect(b.dtype).toBe("F32");
      expect(b.shape, name).toEqual([side.batch, tokens, hyper.hidden]);
    }
    const out = tensor(header, "output");
    expect(out.dtype).toBe("F32");
    expect(side.output_channels).toBe(hyper.outChannels);
    expect(out.shape).toEqual([side.batch, hyper.outChannels, g.latent.frames, g.latent.height, g.latent.width]);
    expect(Object.keys(side.float32_relative_error).sort()).toEqual(["output", ...expectedBlocks].sort());
    for (const e of Object.values(side.float32_relative_error)) expect(e).toBeLessThan(1e-5);
  });

  it("used the plan's positional tables and model scalars", () => {
    const g = plan.geometry;
    expect(side.positions.grid).toEqual([g.tokens.frames, g.tokens.rows, g.tokens.cols]);
    const [spatial, ...more] = setupOps(plan, "sincos_2d");
    expect(more).toEqual([]);
    if (!spatial) throw new Error("no sincos_2d op");
    expect([spatial.rows, spatial.cols, spatial.width]).toEqual([g.tokens.rows, g.tokens.cols, hyper.hidden]);
    closeTo(spatial.rowScale, side.positions.spatial.row_scale);
    closeTo(spatial.colScale, side.positions.spatial.col_scale);
    const temporal = setupOps(plan, "sincos_1d");
    if (side.positions.temporal) {
      expect(temporal).toHaveLength(1);
      expect(temporal[0]?.first).toBe(0);
      expect(temporal[0]?.count).toBe(g.tokens.frames);
      closeTo(temporal[0]?.scale ?? Number.NaN, side.positions.temporal.scale);
    } else {
      expect(temporal).toEqual([]);
    }
    const constants = setupOps(plan, "constant");
    if (side.fps !== undefined) expect(constants.map((c) => c.values)).toEqual([[side.fps]]);
    else expect(constants).toEqual([]);
  });
});

describe.each(samplers.map((s) => [`${s.sampler} on ${s.family}`, s] as const))("%s sampler golden", (_name, side) => {
  const path = join(goldenDir, side.file);
  const header = headerOf(side.file);
  const { plan } = compiled(side.pipeline);
  const forward = forwards.find((s) => s.file === side.forward_file);

  it("is a well-formed safetensors file whose weights and text are its family's forward golden", () => {
    expect(header.fileBytes).toBe(statSync(path).size);
    expect(forward?.family).toBe(side.family);
    expect(forward?.variant).toBe(side.variant);
    expect(forward?.pipeline).toBe(side.pipeline);
    expect(forward?.samples).toBe(side.samples);
  });

  it("stores the initial noise, every step's prediction and latent, and the result, over the plan's latent", () => {
    const stored = ["input.latent", "output"];
    for (let i = 0; i < side.steps; i++) stored.push(`step.${i}.prediction`, `step.${i}.latent`);
    expect(names(header).sort()).toEqual(stored.sort());
    const latent = buffer(plan, "latent").shape;
    for (const name of stored) {
      const t = tensor(header, name);
      expect(t.dtype).toBe("F32");
      expect(t.shape, name).toEqual(latent);
    }
    expect(side.float32_relative_error.latent).toHaveLength(side.steps);
    for (const e of side.float32_relative_error.latent) expect(e).toBeLessThan(1e-5);
  });

  it("ran the plan's steps, timesteps, coefficients and guidance", () => {
    expect(plan.schedule.kind).toBe(side.sampler);
    expect(plan.steps).toHaveLength(side.steps);
    expect(side.timesteps).toHaveLength(side.steps);
    expect(plan.schedule.guidance).toEqual({ scale: side.guidance, mixed: side.cfg_channels, variance: "drop" });
    plan.steps.forEach((step, i) => {
      const s = step.schedule;
      closeTo(s.timestep, side.timesteps[i] ?? Number.NaN, 1e-12);
      if (side.sampler === "ddim") {
        if (!("alpha_cumprod" in s)) throw new Error("not a DDIM step");
        closeTo(s.alpha_cumprod, side.alphas_cumprod?.[i] ?? Number.NaN, 1e-12);
        closeTo(s.alpha_cumprod_prev, side.alphas_cumprod_prev?.[i] ?? Number.NaN, 1e-12);
        expect(s.sigma).toBe(0);
      } else {
        if (!("dt" in s)) throw new Error("not a flow step");
        closeTo(s.dt, side.dt?.[i] ?? Number.NaN, 1e-12);
      }
    });
  });
});
