import type { Axis } from "../../../../grammar/expr/types.js";
import { estimateMemory, formatGiB, type MemoryEstimate } from "../../../cost/memory.js";
import { GPU_PROFILES } from "../../../hardware/gpus.js";
import type { Spec } from "../../../spec/schema.js";
import type { CheckContext, Rule } from "../../context.js";
import type { Facts } from "../../facts.js";
import { formatLayout, isSpatialTemporal, layoutProblems, rankCount } from "../../layouts.js";

/** Above this share of the GPU's memory the estimate is reported (as a warning up to 100%, an error above). */
const NEAR = 0.9;
/** Sequence degrees tried for a hint, as multiples of the current one. */
const MULTIPLES = [1, 2, 4, 8, 16] as const;

function percent(bytes: number, limit: number): string {
  return `${((bytes / limit) * 100).toFixed(1)}%`;
}

/** The estimate as a sum a person can read: resident parts, then the larger of the two phases. */
function breakdown(e: MemoryEstimate): string {
  const p = e.parts;
  const resident: [string, number][] = [
    ["DiT weights", p.weights],
    ["T5-XXL encoder", p.textEncoder],
    ["VAE weights", p.vaeWeights],
    ["latents", p.latents],
    ["runtime reserve", p.reserve],
  ];
  const terms = resident.filter(([, b]) => b > 0).map(([n, b]) => `${n} ${formatGiB(b)}`);
  if (e.peakPhase === "decode") {
    terms.push(`the VAE decode's peak ${formatGiB(p.vaeDecode)}`);
  } else {
    const loop: [string, number][] = [
      ["activations", p.activations],
      ["PipeFusion K/V", p.pipefusionKv],
      ["PAB caches", p.pabCache],
      ["MLP broadcast caches", p.mlpCache],
    ];
    const inner = loop.filter(([, b]) => b > 0).map(([n, b]) => `${n} ${formatGiB(b)}`);
    const sum = loop.reduce((s, [, b]) => s + b, 0);
    terms.push(`the denoising loop's peak ${formatGiB(sum)} (${inner.join(", ")})`);
  }
  return terms.join(" + ");
}

interface Change {
  readonly spec: Spec;
  readonly facts: Facts;
  /** What to paste, one YAML fragment per change. */
  readonly edits: readonly string[];
  readonly layout?: string;
}

/** Candidate settings, fewest ranks and fewest changes first: larger sequence degrees, cfg parallel, VAE tiling, precomputed embeddings. */
function candidates(spec: Spec, facts: Facts): Change[] {
  const family = facts.family!;
  const d0 = facts.degrees;
  const seqAxis: Axis = d0.dsp > 1 ? "dsp" : d0.ulysses > 1 ? "ulysses" : d0.ring > 1 ? "ring" : isSpatialTemporal(family) ? "dsp" : "ulysses";
  const vaeKind = spec.vae?.kind ?? family.defaults.vae;
  const canTile = vaeKind !== "none" && !spec.vae?.tiling;
  const encodesOnRank = family.conditioning === "text" && spec.conditioning?.prompts !== undefined && spec.conditioning.embeddings === undefined;

  const layouts: { degrees: Record<Axis, number>; world: number; text?: string }[] = [];
  for (const m of MULTIPLES) {
    for (const cfg of facts.cfg && d0.cfg === 1 ? [1, 2] : [d0.cfg]) {
      const degrees = { ...d0, [seqAxis]: d0[seqAxis] * m, cfg };
      const changed = m !== 1 || cfg !== d0.cfg;
      if (changed && layoutProblems(spec, facts, degrees).length > 0) continue;
      layouts.push({ degrees, world: rankCount(degrees), ...(changed ? { text: formatLayout(degrees) } : {}) });
    }
  }
  layouts.sort((a, b) => a.world - b.world);

  const out: Change[] = [];
  for (const l of layouts) {
    const extras: { tile: boolean; embed: boolean }[] = [
      { tile: false, embed: false },
      { tile: true, embed: false },
      { tile: false, embed: true },
      { tile: true, embed: true },
    ].filter((x) => (!x.tile || canTile) && (!x.embed || encodesOnRank));
    for (const x of extras) {
      if (l.text === undefined && !x.tile && !x.embed) continue;
      const edits: string[] = [];
      let s: Spec = spec;
      if (l.text !== undefined) edits.push(`parallel: { world: ${l.world}, layout: "${l.text}" }`);
      if (x.tile) {
        s = { ...s, vae: { ...(s.vae ?? {}), kind: vaeKind, tiling: true } };
        edits.push(`vae: { kind: ${vaeKind}, tiling: true }`);
      }
      if (x.embed) {
        s = { ...s, conditioning: { ...(s.conditioning ?? {}), embeddings: "prompts.safetensors" } };
        edits.push("conditioning: { embeddings: prompts.safetensors }");
      }
      const f: Facts = { ...facts, degrees: l.degrees, world: l.world };
      out.push({ spec: s, facts: f, edits, ...(l.text !== undefined ? { layout: l.text } : {}) });
    }
  }
  return out;
}

function hintFor(ctx: CheckContext, estimate: MemoryEstimate): { hint: string; suggestions?: string[] } {
  const { spec, facts } = ctx;
  const gpu = facts.gpu;
  const target = NEAR * gpu.memoryBytes;
  for (const c of candidates(spec, facts)) {
    const e = estimateMemory(c.spec, c.facts);
    if (!e || e.total > target) continue;
    const encoded = c.spec.conditioning?.embeddings !== spec.conditioning?.embeddings ? " (prompts encoded by T5-XXL ahead of time, so the encoder leaves the GPU)" : "";
    return {
      hint: `${c.edits.map((t) => `\`${t}\``).join(" with ")}${encoded} would bring the estimate to ${formatGiB(e.total)} per rank (${percent(e.total, gpu.memoryBytes)} of the ${gpu.title}).`,
      ...(c.layout !== undefined ? { suggestions: [c.layout] } : {}),
    };
  }
  const larger = Object.values(GPU_PROFILES)
    .filter((g) => g.memoryBytes * NEAR >= estimate.total)
    .sort((a, b) => a.memoryBytes - b.memoryBytes)[0];
  const gpuHint = larger ? `, or run on a GPU with more memory (\`runtime: { gpu: ${larger.name} }\`, ${larger.title})` : "";
  return {
    hint: `No larger sequence degree (up to 16 times the current one) brings the estimate under ${formatGiB(target)}; lower the size or the number of samples per rank${gpuHint}.`,
  };
}

/** The estimated peak memory per rank (compiler/cost/memory.ts) must fit the named GPU: an error above its memory, a warning above 90%. */
export const MemoryFitsGpuRule: Rule = {
  name: "MemoryFitsGpuRule",
  check(ctx) {
    if (ctx.spec.runtime?.backend === "cpu") return;
    const estimate = estimateMemory(ctx.spec, ctx.facts);
    if (!estimate) return;
    const gpu = ctx.facts.gpu;
    const share = estimate.total / gpu.memoryBytes;
    if (share <= NEAR) return;
    const over = share > 1;
    const at = ctx.spec.parallel?.layout !== undefined ? "/parallel/layout" : ctx.spec.runtime?.gpu !== undefined ? "/runtime/gpu" : ctx.facts.family?.kind === "video" ? "/video" : "/image";
    const { hint, suggestions } = hintFor(ctx, estimate);
    ctx.report({
      code: over ? "OD3502" : "OD3503",
      at,
      ...(at === "/video" || at === "/image" ? { part: "key" as const } : {}),
      message:
        `The estimated peak memory per rank is ${formatGiB(estimate.total)}, ${percent(estimate.total, gpu.memoryBytes)} of the ${gpu.title}'s ${formatGiB(gpu.memoryBytes)}` +
        `${over ? "" : ", leaving little room for fragmentation"}: ${breakdown(estimate)}.`,
      hint,
      ...(suggestions ? { suggestions } : {}),
    });
  },
};
