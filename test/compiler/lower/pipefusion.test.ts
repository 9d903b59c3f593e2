/**
 * PipeFusion lowering (compiler/lower/pipefusion): blocks split into contiguous stages (ceil split, interleaved
 * families as one list), per-stage weights and setup, `warmup` synchronous steps then pipelined ones, static
 * send/recv shapes that match on both ends (within a step and round the latent ring from step to step), one K/V
 * buffer per spatial attention sized for the whole sequence and written band by band, no dangling buffers, the
 * two edge settings (warmup == steps, warmup 0), `cfg 2 x pipefusion 4` (the shipped PixArt pipeline), Ulysses
 * inside a stage, stage-aware memory, a run of the rank programs that ends without a deadlock, and the layouts
 * it refuses by name.
 */
import { describe, expect, it } from "vitest";
import { lowerPlan } from "../../../compiler/lower/lower-plan.js";
import { firstBlockOfStage, stageOfBlock } from "../../../compiler/lower/pipefusion/settings.js";
import { opBuffers } from "../../../compiler/plan/op-buffers.js";
import type { Op, RecvOp, SendOp } from "../../../compiler/plan/ops.js";
import { inPhase } from "../../../compiler/plan/pattern-runs.js";
import { messageValues, transferProblems } from "../../../compiler/plan/transfer-match.js";
import type { Plan, PlanPattern } from "../../../compiler/plan/types.js";
import { verifyPlan } from "../../../compiler/plan/verify.js";
import { validateText } from "../../../compiler/validate.js";
import { checked, derivedPipeline, lowerText, opsOf, rehash, repoText, thaw } from "../plan/lowered.js";

/** A tiny STDiT 1.0 (D 64, 4 heads) at 4 frames of 64x64: a 4x4 token grid per frame, 6 IDDPM steps, guided. */
function tinyStdit(o: { layout: string; world: number; depth?: number; patches?: number; warmup?: number; extra?: string }): string {
  return `version: 1
name: tiny-stdit-pipefusion
model: { family: stdit, hyper: { hidden: 64, depth: ${o.depth ?? 2}, heads: 4 }, checkpoint: ckpts/tiny.safetensors, dtype: bf16 }
conditioning: { prompts: ["a red panda"], text_encoder: t5-v1_1-xxl }
video: { frames: 4, height: 64, width: 64 }
seed: 3
scheduler: { kind: iddpm, steps: 6, guidance: 7.0 }
parallel: { world: ${o.world}, layout: "${o.layout}", pipefusion: { patches: ${o.patches ?? 2}, warmup: ${o.warmup ?? 1} } }
${o.extra ?? ""}vae: { kind: sd-vae-ft-ema, checkpoint: ckpts/vae.safetensors }
output: { dir: out, formats: [latents] }
`;
}

function lowerTiny(o: Parameters<typeof tinyStdit>[0]): Plan {
  return lowerText("tiny.yaml", tinyStdit(o));
}

const pixart = (): Plan => lowerText("pipelines/pixart-pipefusion-cfg.yaml", repoText("pipelines/pixart-pipefusion-cfg.yaml"));

/** The ops a rank of `stage` runs in a step of `pattern`, in order. */
function rankOps(plan: Plan, stage: number, pattern: PlanPattern): Op[] {
  return plan.program.step.filter((op) => (op.stage === undefined || op.stage === stage) && inPhase(op, pattern));
}

const stagesOfBlocks = (plan: Plan): Map<string, Set<number | undefined>> => {
  const map = new Map<string, Set<number | undefined>>();
  for (const op of plan.program.step) {
    if (op.block === undefined) continue;
    const key = `${op.blockKind}:${op.block}`;
    map.set(key, (map.get(key) ?? new Set()).add(op.stage));
  }
  return map;
};

/** Declared buffers nothing writes or nothing reads, and names ops use that are neither buffers nor weights. */
function loose(plan: Plan): { unwritten: string[]; unread: string[]; unknown: string[] } {
  const declared = new Set(plan.buffers.map((b) => b.name));
  const weights = new Set(plan.weights.map((w) => w.name));
  const written = new Set(plan.inputs.map((i) => i.buffer));
  const read = new Set(plan.outputs.map((o) => o.buffer));
  const unknown = new Set<string>();
  for (const op of [...plan.program.setup, ...plan.program.step]) {
    const { reads, writes } = opBuffers(op);
    reads.forEach((n) => read.add(n));
    writes.forEach((n) => written.add(n));
    for (const n of [...reads, ...writes]) if (!declared.has(n) && !weights.has(n)) unknown.add(n);
  }
  return { unwritten: [...declared].filter((n) => !written.has(n)), unread: [...declared].filter((n) => !read.has(n)), unknown: [...unknown] };
}

describe("stages", () => {
  it("split L blocks into P contiguous stages of ceil(s·L/P) .. ceil((s+1)·L/P), none empty", () => {
    for (const [blocks, stages] of [[28, 4], [5, 3], [5, 4], [56, 3], [2, 2]] as const) {
      const of = Array.from({ length: blocks }, (_, p) => stageOfBlock(p, blocks, stages));
      expect(of.every((s, p) => p === 0 || s === of[p - 1] || s === of[p - 1]! + 1)).toBe(true);
      for (let s = 0; s < stages; s++) {
        expect(of.indexOf(s)).toBe(firstBlockOfStage(s, blocks, stages));
        expect(of.filter((x) => x === s).length).toBeGreaterThan(0);
      }
    }
    expect(Array.from({ length: 5 }, (_, p) => stageOfBlock(p, 5, 3))).toEqual([0, 0, 1, 1, 2]);
  });

  it("put every block's ops on exactly one stage: 5 STDiT blocks over 3 stages", () => {
    const plan = lowerTiny({ layout: "pipefusion 3", world: 3, depth: 5 });
    const stages = stagesOfBlocks(plan);
    expect([...stages.keys()]).toEqual(["spatial:0", "spatial:1", "spatial:2", "spatial:3", "spatial:4"]);
    expect([...stages.values()].map((s) => [...s])).toEqual([[0], [0], [1], [1], [2]]);
    // Within a pass the stages follow each other (0, 1, 2); the second band's pass starts over at stage 0.
    const stagesIn = (phase: string) => plan.program.step.filter((o) => o.phase === phase && o.stage !== undefined && !o.latentRing).map((o) => o.stage!);
    const restarts = (xs: number[]) => xs.filter((s, i) => i > 0 && s < xs[i - 1]!).length;
    expect(new Set(stagesIn("warmup"))).toEqual(new Set([0, 1, 2]));
    expect(restarts(stagesIn("warmup"))).toBe(0);
    expect(restarts(stagesIn("pipelined"))).toBe(1);
  });

  it("count spatial and temporal blocks of an interleaved family as one list (STDiT3: 56 blocks over 3 stages)", () => {
    const text = derivedPipeline("opensora-v12.yaml", { parallel: { world: 3, layout: "pipefusion 3", pipefusion: { patches: 5, warmup: 2 } } });
    const plan = lowerText("opensora-v12-pf.yaml", text);
    const stages = stagesOfBlocks(plan);
    // Positions alternate spatial i (2i) and temporal i (2i + 1); stage 1 starts at position ceil(56/3) = 19.
    expect([...stages.get("spatial:9")!]).toEqual([0]);
    expect([...stages.get("temporal:9")!]).toEqual([1]);
    expect([...stages.get("spatial:19")!]).toEqual([2]);
    expect([...stages.get("temporal:18")!]).toEqual([1]);
    expect(verifyPlan(plan)).toEqual([]);
  });

  it("give weights and setup ops the stages that read them (cfg 2 x pipefusion 4: 7 PixArt blocks a stage)", () => {
    const plan = pixart();
    for (const w of plan.weights) {
      const block = /^blocks\.(\d+)\./.exec(w.name);
      if (block) expect(w.stages, w.name).toEqual([Math.floor(Number(block[1]) / 7)]);
      else if (w.name.startsWith("x_embedder.")) expect(w.stages, w.name).toEqual([0]);
      else if (w.name.startsWith("final_layer.")) expect(w.stages, w.name).toEqual([3]);
      else expect(w.stages, w.name).toBeUndefined();
    }
    const timestep = plan.weights.filter((w) => w.name.startsWith("t_embedder.") || w.name.startsWith("t_block."));
    expect(timestep.length).toBeGreaterThan(0);
    const crossKv = plan.program.setup.filter((o) => o.op === "linear" && o.weight.endsWith("cross_attn.kv_linear.weight"));
    expect(crossKv).toHaveLength(28);
    for (const op of crossKv) expect(op.stage).toBe(Math.floor(Number(/blocks\.(\d+)\./.exec((op as { weight: string }).weight)![1]) / 7));
    // Only stage 0 embeds; only the last stage runs the final layer, the CFG gather, guidance and the solver.
    expect(new Set(opsOf(plan.program.step, "patch_embed").map((o) => o.stage))).toEqual(new Set([0]));
    for (const name of ["unpatchify", "guidance", "solver_update"] as const) {
      expect(new Set(opsOf(plan.program.step, name).map((o) => o.stage)), name).toEqual(new Set([3]));
    }
    expect(opsOf(plan.program.step, "all_gather").every((o) => o.axis === "cfg" && o.stage === 3)).toBe(true);
    expect(plan.outputs).toEqual([{ buffer: "latent", name: "latents", stage: 3 }]);
  });
});

describe("phases", () => {
  it("run `warmup` synchronous steps, then pipelined ones, with the ring off at the two ends", () => {
    const plan = pixart();
    const phases = plan.steps.map((s) => plan.patterns[s.pattern]!.phase);
    expect(phases).toEqual(["warmup", ...new Array<string>(19).fill("pipelined")]);
    expect(plan.steps.map((s) => plan.patterns[s.pattern]!.latentIn)).toEqual([false, ...new Array<boolean>(19).fill(true)]);
    expect(plan.steps.map((s) => plan.patterns[s.pattern]!.latentOut)).toEqual([...new Array<boolean>(19).fill(true), false]);
    expect(plan.patterns.reduce((n, p) => n + p.steps, 0)).toBe(20);
    // One pass of the whole sample, then one per band of 4: five solver updates, each over its rows.
    const solvers = opsOf(plan.program.step, "solver_update");
    expect(solvers.map((o) => [o.phase, o.band?.first ?? 0, o.band?.count ?? 128])).toEqual([
      ["warmup", 0, 128],
      ["pipelined", 0, 32],
      ["pipelined", 32, 32],
      ["pipelined", 64, 32],
      ["pipelined", 96, 32],
    ]);
  });

  it("with warmup == steps lower no pipelined phase at all", () => {
    const plan = lowerTiny({ layout: "pipefusion 2", world: 2, warmup: 6 });
    expect(plan.patterns.map((p) => p.phase)).toEqual(["warmup", "warmup", "warmup"]);
    expect(plan.steps.every((s) => plan.patterns[s.pattern]!.phase === "warmup")).toBe(true);
    expect(plan.program.step.some((o) => o.phase === "pipelined")).toBe(false);
    expect(plan.buffers.some((b) => b.name.startsWith("band"))).toBe(false);
    expect(verifyPlan(plan)).toEqual([]);
  });

  it("with warmup 0 start pipelined on zero-filled K/V buffers", () => {
    const plan = lowerTiny({ layout: "pipefusion 2", world: 2, warmup: 0 });
    expect(plan.program.step.some((o) => o.phase === "warmup")).toBe(false);
    expect(plan.patterns[plan.steps[0]!.pattern]).toMatchObject({ phase: "pipelined", latentIn: false });
    const kv = plan.buffers.filter((b) => b.name.startsWith("kv."));
    expect(kv).toHaveLength(2);
    for (const b of kv) {
      const fill = plan.program.setup.find((o) => o.op === "constant" && o.out === b.name);
      expect(fill).toMatchObject({ values: [0], count: b.shape[0]! * b.shape[1]! });
    }
    expect(verifyPlan(plan)).toEqual([]);
  });
});

describe("transfers", () => {
  it("send and receive the same static shapes on both ends, band by band (PixArt, cfg 2 x pipefusion 4)", () => {
    const plan = pixart();
    for (const pattern of plan.patterns) {
      for (let s = 0; s < 3; s++) {
        const sent = rankOps(plan, s, pattern).filter((o): o is SendOp => o.op === "send" && !o.latentRing);
        const received = rankOps(plan, s + 1, pattern).filter((o): o is RecvOp => o.op === "recv" && !o.latentRing);
        // One residual stream a pass: the whole sample [4096, 1152] in warm-up, a band [1024, 1152] otherwise.
        expect(sent.map((o) => o.dims)).toEqual(pattern.phase === "warmup" ? [[4096, 1152, 1, 1]] : new Array(4).fill([1024, 1152, 1, 1]));
        expect(received.map((o) => o.dims)).toEqual(sent.map((o) => o.dims));
        expect(received.map((o) => o.out)).toEqual(sent.map((o) => o.x));
      }
    }
    // The ring: the last stage's bands of step t are stage 0's bands of step t + 1, the latent's 4 row bands.
    const ring = (pattern: PlanPattern, stage: number, op: "send" | "recv") => rankOps(plan, stage, pattern).filter((o) => o.op === op && o.latentRing);
    for (let t = 0; t + 1 < plan.steps.length; t++) {
      const out = ring(plan.patterns[plan.steps[t]!.pattern]!, 3, "send") as SendOp[];
      const back = ring(plan.patterns[plan.steps[t + 1]!.pattern]!, 0, "recv") as RecvOp[];
      expect(out.map((o) => o.slice)).toEqual([0, 32, 64, 96].map((first) => ({ dim: 1, first, count: 32 })));
      expect(back.map((o) => [o.dims, o.slice])).toEqual(out.map((o) => [o.dims, o.slice]));
    }
    expect(transferProblems(plan)).toEqual([]);
  });

  it("are caught by the verifier when one end's shape changes", () => {
    const resized = thaw(pixart());
    const recv = resized.program.step.find((o) => o.op === "recv" && !o.latentRing && o.phase === "pipelined")!;
    (recv as { dims: number[] }).dims = [512, 1152, 1, 1];
    expect(verifyPlan(rehash(resized))).toContain(`step op ${recv.id} (recv): \`band0.x\` holds 1179648 values, not the 589824 of its view`);
    const sliced = thaw(pixart());
    const ring = sliced.program.step.find((o) => o.op === "recv" && o.latentRing && o.phase === "pipelined")!;
    (ring as { slice: { count: number } }).slice.count = 16;
    const problems = verifyPlan(rehash(sliced));
    expect(problems.some((p) => /^the pipeline ring from step 0 to 1: send op \d+ carries 16384 f32 values, its receive op \d+ expects 8192 f32$/.test(p))).toBe(true);
  });

  it("let every rank finish every step when sends are asynchronous and receives pre-posted", () => {
    const plan = pixart();
    const stages = 4;
    // Per rank: its ops of each step; channels keyed "from>to" count messages sent and receives posted.
    const programs = Array.from({ length: stages }, (_, s) => plan.steps.map((st) => rankOps(plan, s, plan.patterns[st.pattern]!)));
    const sent = new Map<string, number[]>();
    const posted = new Map<string, number>();
    const channelOf = (op: SendOp | RecvOp, s: number) => (op.op === "send" ? `${s}>${(s + 1) % stages}` : `${(s + stages - 1) % stages}>${s}`);
    const cursor = programs.map(() => ({ step: 0, at: 0, consumed: new Map<string, number>(), mySends: new Map<string, number>() }));
    const done = (s: number) => cursor[s]!.step >= plan.steps.length;
    let progress = true;
    while (progress && !programs.every((_, s) => done(s))) {
      progress = false;
      for (let s = 0; s < stages; s++) {
        const c = cursor[s]!;
        while (!done(s)) {
          const ops = programs[s]![c.step]!;
          if (c.at === 0) {
            // A step starts once the rank's earlier sends met posted receives; then it posts this step's receives.
            const waiting = [...c.mySends].some(([ch, n]) => (posted.get(ch) ?? 0) < n);
            if (waiting) break;
            for (const op of ops) if (op.op === "recv") posted.set(channelOf(op, s), (posted.get(channelOf(op, s)) ?? 0) + 1);
          }
          const op = ops[c.at];
          if (op?.op === "send") {
            const ch = channelOf(op, s);
            sent.set(ch, [...(sent.get(ch) ?? []), messageValues(op)]);
            c.mySends.set(ch, (c.mySends.get(ch) ?? 0) + 1);
          } else if (op?.op === "recv") {
            const ch = channelOf(op, s);
            const k = c.consumed.get(ch) ?? 0;
            const message = sent.get(ch)?.[k];
            if (message === undefined) break;
            expect(message).toBe(messageValues(op));
            c.consumed.set(ch, k + 1);
          }
          progress = true;
          if (++c.at >= ops.length) {
            c.step++;
            c.at = 0;
          }
        }
      }
    }
    expect(programs.map((_, s) => done(s))).toEqual([true, true, true, true]);
    // Every message was received: 19 steps' worth of ring bands, and the stage-to-stage streams.
    for (const [ch, messages] of sent) expect(cursor[Number(ch.split(">")[1])]!.consumed.get(ch), ch).toBe(messages.length);
    expect(sent.get("3>0")).toHaveLength(19 * 4);
  });
});

describe("K/V buffers", () => {
  it("hold the whole sequence per spatial attention, written whole in warm-up and band by band after", () => {
    const plan = pixart();
    const kv = plan.buffers.filter((b) => b.name.startsWith("kv."));
    expect(kv).toHaveLength(28);
    for (const b of kv) {
      const block = Number(/spatial\.(\d+)\./.exec(b.name)![1]);
      expect(b).toMatchObject({ role: "cache", shape: [4096, 2304], stages: [Math.floor(block / 7)] });
    }
    const attention = opsOf(plan.program.step, "self_attention");
    expect(attention.every((o) => o.kvCache !== undefined)).toBe(true);
    for (const b of kv) {
      const users = attention.filter((o) => o.kvCache!.buffer === b.name);
      expect(users.map((o) => [o.phase, o.seq, o.kvCache!.keys, o.kvCache!.offset])).toEqual([
        ["warmup", 4096, 4096, 0],
        ["pipelined", 1024, 4096, 0],
        ["pipelined", 1024, 4096, 1024],
        ["pipelined", 1024, 4096, 2048],
        ["pipelined", 1024, 4096, 3072],
      ]);
    }
  });

  it("keep the heads a rank attends with under Ulysses, over the whole band the all-to-all hands it", () => {
    const plan = lowerTiny({ layout: "ulysses 2 x pipefusion 2", world: 4 });
    // 2 samples (guided) x 4 frames x 16 tokens; 2 of the 4 heads of 16 features.
    expect(plan.buffers.filter((b) => b.name.startsWith("kv.")).map((b) => b.shape)).toEqual([
      [128, 64],
      [128, 64],
    ]);
    const band1 = opsOf(plan.program.step, "self_attention").filter((o) => o.kvCache && o.phase === "pipelined" && o.kvCache.offset > 0);
    expect(band1.map((o) => [o.batch, o.seq, o.heads, o.kvCache!.keys, o.kvCache!.offset])).toEqual([
      [8, 8, 2, 16, 8],
      [8, 8, 2, 16, 8],
    ]);
    const embed = opsOf(plan.program.step, "patch_embed").filter((o) => o.band);
    expect(embed.map((o) => [o.band, o.shard])).toEqual([
      [{ index: 0, count: 2 }, { axis: "ulysses", parts: 2, dim: "tokens" }],
      [{ index: 1, count: 2 }, { axis: "ulysses", parts: 2, dim: "tokens" }],
    ]);
    expect(verifyPlan(plan)).toEqual([]);
  });
});

describe("the program as a whole", () => {
  it("leaves no buffer dangling and passes the verifier, in every layout lowered here", () => {
    const plans = [
      pixart(),
      lowerTiny({ layout: "pipefusion 3", world: 3, depth: 5, patches: 4 }),
      lowerTiny({ layout: "cfg 2 x ulysses 2 x pipefusion 2", world: 8, warmup: 2 }),
      lowerText("dit.yaml", derivedPipeline("dit-xl-2-cfg.yaml", { parallel: { world: 4, layout: "pipefusion 4", pipefusion: { patches: 2, warmup: 1 } } })),
      lowerText("latte.yaml", derivedPipeline("latte-ucf101.yaml", { parallel: { world: 2, layout: "pipefusion 2", pipefusion: { patches: 4, warmup: 3 } } })),
    ];
    for (const plan of plans) {
      expect(loose(plan), plan.name).toEqual({ unwritten: [], unread: [], unknown: [] });
      expect(verifyPlan(plan), plan.name).toEqual([]);
    }
  });

  it("crops the last band where the family pads the token rows (STDiT3 at 72x64: 9 latent rows, 5 token rows)", () => {
    const text = `version: 1
name: tiny-stdit3-pipefusion
model: { family: stdit3, variant: stdit3-tiny, checkpoint: ckpts/tiny.safetensors, dtype: bf16 }
conditioning: { embeddings: text.safetensors }
video: { frames: 34, height: 72, width: 64 }
seed: 3
scheduler: { kind: rflow, steps: 6, guidance: 7.0 }
parallel: { world: 2, layout: "pipefusion 2", pipefusion: { patches: 5, warmup: 1 } }
vae: { kind: opensora-vae-v1.2, checkpoint: ckpts/vae.safetensors }
output: { dir: out, formats: [latents] }
`;
    const plan = lowerText("tiny-stdit3.yaml", text);
    expect(plan.geometry.latent.height).toBe(9);
    expect(plan.geometry.tokens.rows).toBe(5);
    const bands = opsOf(plan.program.step, "solver_update").filter((o) => o.band);
    expect(bands.map((o) => [o.band!.first, o.band!.count])).toEqual([
      [0, 2],
      [2, 2],
      [4, 2],
      [6, 2],
      [8, 1],
    ]);
    // [samples with the CFG half, 8 output channels, 10 latent frames, the one row left, 8 columns].
    const last = opsOf(plan.program.step, "unpatchify").find((o) => o.band?.index === 4)!;
    expect(plan.buffers.find((b) => b.name === last.out)!.shape).toEqual([2, 8, 10, 1, 8]);
    expect(verifyPlan(plan)).toEqual([]);
  });

  it("runs the per-sample conditioning once per step on every stage, ahead of both phases", () => {
    const plan = lowerTiny({ layout: "pipefusion 2", world: 2 });
    const shared = plan.program.step.filter((o) => o.stage === undefined);
    expect(shared.map((o) => o.op)).toEqual(["timestep_embed", "linear", "linear", "silu", "linear"]);
    expect(shared.every((o) => o.phase === undefined && o.id < 5)).toBe(true);
  });

  it("lets buffers of different stages share arena bytes", () => {
    const plan = pixart();
    const at = (name: string) => plan.buffers.find((b) => b.name === name)!;
    expect(at("kv.spatial.7.attn").offset).toBe(at("kv.spatial.14.attn").offset);
    const kvBytes = plan.buffers.filter((b) => b.name.startsWith("kv.")).reduce((n, b) => n + b.bytes, 0);
    // A rank keeps 7 of the 28 K/V buffers: the arena is well below all 28 of them.
    expect(plan.arenaBytes).toBeLessThan(kvBytes / 2);
  });

  it("lowers to the same plan every time", () => {
    expect(pixart().hash).toBe(pixart().hash);
  });
});

describe("refused combinations", () => {
  it("are refused by the checker (OD3116), and by the lowering for a caller that skips it", () => {
    const lower = (text: string) => {
      const r = validateText("refused.yaml", text, { fileExists: () => true });
      expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => d.code)).toEqual(["OD3116"]);
      return () => lowerPlan(r.spec!, r.facts!);
    };
    expect(lower(tinyStdit({ layout: "ring 2 x pipefusion 2", world: 4 }))).toThrow("`pipefusion 2 x ring 2` is not lowered");
    expect(lower(tinyStdit({ layout: "dsp 2 x pipefusion 2", world: 4 }))).toThrow("`pipefusion 2 x dsp 2` is not lowered");
    const pab = 'acceleration: { pab: { spatial: "every 2 in [100, 900]" } }\n';
    expect(lower(tinyStdit({ layout: "pipefusion 2", world: 2, extra: pab }))).toThrow("PAB (spatial attention broadcast) with `pipefusion 2` is not lowered");
  });
});
