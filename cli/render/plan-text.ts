/**
 * `opendit plan`'s text: a plan explained for a person, one section a concern: the model and its geometry, the
 * sampler, the mesh and its groups, what a rank holds in memory, the estimated time, the VAE decode (its split,
 * passes, memory and time), what PAB computes and reuses over the steps, the step program in counts, and the
 * hash that identifies the plan. The figures come from the plan itself (compiler/plan/summary.ts,
 * plan.decode); this file only lays them out.
 */
import { formatLayout } from "../../compiler/check/layouts.js";
import type { MemoryEstimate } from "../../compiler/cost/memory.js";
import { GPU_PROFILES } from "../../compiler/hardware/gpus.js";
import type { Mesh, RankGroup } from "../../compiler/lower/mesh.js";
import type { PabPlan } from "../../compiler/lower/pab.js";
import { summarizePlan, type PlanSummary } from "../../compiler/plan/summary.js";
import { decodeWeightBytes } from "../../compiler/cost/decode-cost.js";
import type { BufferRole, Plan, PlanDecode, PlanPadding } from "../../compiler/plan/types.js";
import type { GpuName } from "../../compiler/spec/schema.js";
import { alignColumns, formatBytes, formatCount, formatSeconds, wrapWords } from "./units.js";

/** Groups listed in full up to this many; more are shown as the first few, `...`, and the last. */
const MAX_GROUPS = 8;
/** Ranks of a group listed in full up to this many (a longer even-strided group is written `0 8 .. 1016`). */
const MAX_MEMBERS = 8;
/** Lines are wrapped (at spaces) to this width. */
const WIDTH = 110;
/** Section titles take this many columns. */
const TITLE = 10;

export interface PlanTextExtras {
  /** The PAB schedule the plan's patterns come from: its compute/reuse letters per attention kind. */
  readonly pab?: PabPlan;
  /** The checker's whole-pipeline estimate (text encoder, VAE, runtime reserve on top of the plan's own). */
  readonly pipelineMemory?: MemoryEstimate;
}

function section(title: string, first: string, rest: readonly string[] = []): string[] {
  const pad = " ".repeat(TITLE);
  return [`${title.padEnd(TITLE)}${first}`, ...rest.map((line) => `${pad}${line}`)];
}

/** `0-3` for a run of ranks (or blocks), `0 8 .. 1016` for a long even stride, else the ranks. */
function groupText(group: RankGroup): string {
  const first = group[0]!;
  const last = group[group.length - 1]!;
  if (group.length > 1 && last - first === group.length - 1) return `${first}-${last}`;
  if (group.length <= MAX_MEMBERS) return group.join(" ");
  const stride = group[1]! - first;
  const even = group.every((r, i) => r === first + i * stride);
  return even ? `${first} ${first + stride} .. ${last}` : `${group.slice(0, 3).join(" ")} .. ${last}`;
}

function groupsText(groups: readonly RankGroup[]): string {
  const shown = groups.length <= MAX_GROUPS ? groups : [...groups.slice(0, 3), undefined, groups[groups.length - 1]!];
  return shown.map((g) => (g === undefined ? "..." : `[${groupText(g)}]`)).join(" ");
}

const PADDED: Readonly<Record<PlanPadding["dim"], string>> = { frames: "token frames", tokens: "tokens per frame", heads: "attention heads" };

/** The padding table in one line: `token frames 15 -> 16 over 2 ranks (6.3% thrown away); ...`. */
function paddingLine(padding: readonly PlanPadding[]): string {
  return padding.map((p) => `${PADDED[p.dim]} ${p.from} -> ${p.to} over ${p.parts} ranks (${(p.wasted * 100).toFixed(1)}% thrown away)`).join("; ");
}

function meshLines(mesh: Mesh): string[] {
  const degrees = Object.fromEntries(mesh.axes.map((a) => [a.name, a.degree]));
  const layout = formatLayout(degrees);
  const nodes = `${formatCount(mesh.world)} rank${mesh.world === 1 ? "" : "s"} on ${mesh.nodes} node${mesh.nodes === 1 ? "" : "s"}`;
  const rows = Object.entries(mesh.groups).map(([axis, groups]) => {
    const size = groups![0]!.length;
    const where = mesh.intraNode[axis as keyof Mesh["intraNode"]] ? "in a node" : "across nodes";
    const stride = mesh.axes.find((a) => a.name === axis)?.stride;
    const along = stride !== undefined ? `stride ${stride}` : axis === "decode" ? "all but dp" : "ulysses x ring";
    return [axis, `${size}`, along, `${formatCount(groups!.length)} group${groups!.length === 1 ? "" : "s"} ${where}`, groupsText(groups!)];
  });
  return [`${nodes}${layout !== "" ? `: ${layout}` : " (no parallel axes)"}`, ...alignColumns(rows, "  ", [1])];
}

/** What each persistent role holds, for the memory section. */
const ROLE_NOTE: Readonly<Record<BufferRole, string>> = {
  input: "noise, text features and masks, written before the first step",
  table: "positional tables and projections, computed once by the setup program",
  state: "the latent and the solver's history, carried from step to step",
  cache: "kept between steps: PAB and MLP broadcast outputs, PipeFusion's stale K/V",
  activation: "",
  output: "the final latent",
};

function memoryLines(plan: Plan, summary: PlanSummary, pipeline: MemoryEstimate | undefined): string[] {
  const gpu = GPU_PROFILES[plan.cost.gpu as GpuName];
  const share = gpu ? `: ${((summary.peakBytesPerRank / gpu.memoryBytes) * 100).toFixed(1)}% of the GPU` : "";
  const rows = [
    ["weights", formatBytes(summary.weights.bytesPerRank), `${formatCount(summary.weights.tensors)} tensors, ${plan.model.dtype}`],
    ["arena", formatBytes(summary.arenaBytes), "one static allocation:"],
    ["  activations", formatBytes(summary.activations.bytes), `at peak: ${formatCount(summary.activations.buffers)} buffers share space by liveness`],
    ...summary.persistent.map((r) => [`  ${r.role === "cache" ? "caches" : r.role === "state" ? "state" : `${r.role}s`}`, formatBytes(r.bytes), ROLE_NOTE[r.role]]),
  ];
  if (!summary.persistent.some((r) => r.role === "cache")) rows.push(["  caches", formatBytes(0), "none: nothing is reused between steps"]);
  rows.push(["peak", formatBytes(summary.peakBytesPerRank), `weights + arena${share}`]);
  if (pipeline) rows.push(["pipeline", formatBytes(pipeline.total), "adding the text encoder, VAE and runtime reserve (the checker's estimate)"]);
  const size = gpu ? ` (${formatBytes(gpu.memoryBytes)})` : "";
  return [`per rank, on ${gpu?.title ?? plan.cost.gpu}${size}`, ...alignColumns(rows, "  ", [1])];
}

function timeLines(plan: Plan, summary: PlanSummary): string[] {
  const t = summary.time;
  const spread = t.fastestStepSeconds !== t.slowestStepSeconds ? ` (${formatSeconds(t.fastestStepSeconds)} to ${formatSeconds(t.slowestStepSeconds)} by pattern)` : "";
  return [
    `step ${formatSeconds(t.meanStepSeconds)} on average${spread}`,
    `end to end ${formatSeconds(t.totalSeconds)} for ${plan.steps.length} steps (setup ${formatSeconds(t.setupSeconds)}); estimated on ${t.gpu}, denoising only`,
  ];
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/** A list of ranks as `0-7`, or the ranks themselves. */
function ranksText(ranks: readonly number[]): string {
  return groupText([...ranks].sort((a, b) => a - b));
}

function splitLine(d: PlanDecode): string {
  const s = d.split;
  if (s.kind === "whole") return `whole frames of ${d.latent.height}x${d.latent.width} latent pixels, one rank per sample group`;
  if (s.kind === "tiled") {
    const tiles = s.rows.length * s.cols.length;
    return `tiled: ${plural(tiles, "tile")} (${s.rows.length} x ${s.cols.length}) of ${s.tile.height}x${s.tile.width} latent pixels (${8 * s.tile.height}x${8 * s.tile.width}), overlapping by ${s.overlap} (${8 * s.overlap} pixels)`;
  }
  const band = d.latent.height / s.parts;
  return `patch over ${s.parts} ranks: bands of ${band} latent rows (${8 * band} pixel rows) each; halo rows exchanged, GroupNorm reduced exactly`;
}

/** The VAE decode after the step loop: what decodes, how it splits, its passes, memory and time. */
function decodeLines(plan: Plan): string[] {
  const d = plan.decode;
  if (!d) return ["none: the run writes latents only"];
  const frames = d.latent.frames > 1 ? `${d.latent.frames} frames of ${d.image.width}x${d.image.height}` : `${d.image.width}x${d.image.height}`;
  const from = d.checkpoint === "" ? "no checkpoint named" : d.checkpoint === "random" ? `random weights (seed ${d.weightsSeed})` : d.checkpoint;
  const label = 8;
  const rows: [string, string][] = [
    ["split", splitLine(d)],
    ["memory", `peak ${formatBytes(d.cost.peakBytesPerRank)} per rank: arena ${formatBytes(d.arenaBytes)} + weights ${formatBytes(decodeWeightBytes(d))}, after the DiT's memory is released`],
    ["time", `${formatSeconds(d.cost.secondsPerPass)} a pass, ${formatSeconds(d.cost.totalSeconds)} in all (estimated on ${plan.cost.gpu})`],
  ];
  return [
    ...wrapWords(`${d.vae}, ${d.dtype}: ${plural(d.weights.length, "tensor")} from ${from}`, WIDTH - TITLE, 2),
    `${frames}, ${plural(d.samples, "sample")} per dp group: ${plural(d.passes, "pass", "passes")} a sample of ${plural(d.framesPerPass, "frame")}; ranks ${ranksText(d.ranks)}`,
    ...rows.flatMap(([name, text]) => wrapWords(`${name.padEnd(label)}${text}`, WIDTH - TITLE, label)),
  ];
}

function cachingLines(plan: Plan, pab: PabPlan | undefined): string[] {
  const patterns = `${plan.patterns.length} distinct step pattern${plan.patterns.length === 1 ? "" : "s"} (one CUDA graph each)`;
  if (!pab) return [patterns];
  const name = Math.max(...pab.attention.map((a) => a.kind.length), 3) + 2;
  const windowed = pab.attention.filter((a) => a.window !== null);
  const runsWidth = Math.max(0, ...windowed.map((a) => a.runs.length));
  const summaryWidth = Math.max(0, ...windowed.map((a) => a.summary.length));
  const windowText = (a: (typeof windowed)[number]) => `[every ${a.window!.every} in (${a.window!.low}, ${a.window!.high})]`;
  const oneLine = (a: (typeof windowed)[number]) => `${a.kind.padEnd(name)}${a.runs.padEnd(runsWidth)}  ${a.summary.padEnd(summaryWidth)}  ${windowText(a)}`;
  // Every kind takes the same form: letters, summary and window on one line when all fit, else letters below.
  const fits = windowed.every((a) => oneLine(a).length <= WIDTH - TITLE);
  const lines: string[] = [];
  for (const a of pab.attention) {
    if (!a.window) lines.push(`${a.kind.padEnd(name)}${a.summary}: no PAB window, computed at every step`);
    else if (fits) lines.push(oneLine(a));
    else lines.push(`${a.kind.padEnd(name)}${a.summary}  ${windowText(a)}:`, ...wrapWords(a.runs, WIDTH - TITLE - name, 0).map((l) => `${" ".repeat(name)}${l}`));
  }
  for (const m of pab.mlp) {
    const keeps = m.keeps.map((k) => `${k.step} (reused ${k.firstReuse}-${k.lastReuse})`).join(", ");
    lines.push(...wrapWords(`${"mlp".padEnd(name)}${m.blockKind} blocks ${groupText(m.blocks)}: kept at steps ${keeps}`, WIDTH - TITLE, name));
  }
  return [...lines, patterns];
}

function programLines(summary: PlanSummary, steps: number): string[] {
  const kinds = summary.ops.byKind.map((k, i) => `${k.op} ${k.count}${i < summary.ops.byKind.length - 1 ? "," : ""}`);
  const lines = wrapWords([`${formatCount(summary.ops.step)} ops a step (setup ${formatCount(summary.ops.setup)}):`, ...kinds], WIDTH - TITLE, 2);
  if (summary.collectives.length === 0) return [...lines, "no communication"];
  const rows = summary.collectives.map((c) => [
    c.axis,
    c.op,
    `${formatCount(c.callsPerStep)} call${c.callsPerStep === 1 ? "" : "s"}`,
    `${formatBytes(c.bytesPerStep)} a step`,
    `${formatCount(c.callsPerRun)} calls, ${formatBytes(c.bytesPerRun)} over ${steps} steps`,
  ]);
  return [...lines, "collectives (bytes each rank sends; a step where everything computes):", ...alignColumns(rows, "  ", [2, 3]).map((l) => `  ${l}`)];
}

export function renderPlanText(plan: Plan, extras: PlanTextExtras = {}): string {
  const summary = summarizePlan(plan);
  const { model, geometry: g } = plan;
  const h = model.hyper;
  const size = g.frames > 1 ? `${g.frames} frames of ${g.width}x${g.height}` : `${g.width}x${g.height}`;
  const tokens = g.tokens.frames * g.tokens.rows * g.tokens.cols;
  const guidance = plan.schedule.guidance;
  const cfgParallel = plan.mesh.axes.some((a) => a.name === "cfg" && a.degree > 1);
  const lines = [
    `${plan.name}: plan ${plan.hash.slice(0, 12)} (${plan.format} v${plan.version})`,
    "",
    ...section("model", `${model.title}${model.variant !== undefined ? `, ${model.variant}` : ""}`, [
      `${model.dtype}, ${h.depth} blocks, hidden ${h.hidden}, ${h.heads} heads of ${h.headDim}; checkpoint ${model.checkpoint}`,
    ]),
    ...section("geometry", `${size} -> latent ${g.latent.channels} x ${g.latent.frames} x ${g.latent.height} x ${g.latent.width} -> ${g.tokens.frames} x ${g.tokens.rows} x ${g.tokens.cols} = ${formatCount(tokens)} tokens`, [
      `${g.samples} sample${g.samples === 1 ? "" : "s"}; a model batch of ${g.batch} on each rank`,
    ]),
    ...(plan.padding ? section("padding", paddingLine(plan.padding)) : []),
    ...section(
      "sampler",
      `${plan.schedule.kind}, ${plan.steps.length} steps, ${plan.schedule.solver} updates; ${
        guidance ? `guidance ${guidance.scale}${cfgParallel ? " (its two halves on the cfg axis)" : ""}` : "no guidance"
      }`,
    ),
    ...section("mesh", ...headAndRest(meshLines(plan.mesh))),
    ...section("memory", ...headAndRest(memoryLines(plan, summary, extras.pipelineMemory))),
    ...section("time", ...headAndRest(timeLines(plan, summary))),
    ...section("decode", ...headAndRest(decodeLines(plan))),
    ...section("caching", ...headAndRest(cachingLines(plan, extras.pab))),
    ...section("program", ...headAndRest(programLines(summary, plan.steps.length))),
    ...section("hash", `sha256 ${plan.hash}`),
  ];
  return `${lines.join("\n")}\n`;
}

function headAndRest(lines: readonly string[]): [string, string[]] {
  return [lines[0] ?? "", lines.slice(1)];
}
