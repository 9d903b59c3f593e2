/**
 * A plan with one thing changed is caught: by the published schema where the change breaks the plan's shape
 * (an unknown op, a missing or stray field, a bad enum value), and by the verifier where the shape is fine but
 * the contents disagree (sizes, names, order, groups, arena, caches, inputs, tables, hash). Each mutation
 * starts from a sound plan, rehashes unless the hash is the point, and names the sentence it expects.
 */
import { describe, expect, it } from "vitest";
import type { Op } from "../../../compiler/plan/ops.js";
import type { Plan } from "../../../compiler/plan/types.js";
import { verifyPlan } from "../../../compiler/plan/verify.js";
import { lowerText, opsOf, planValidator, rehash, repoText, thaw, type Mutable } from "./lowered.js";

/** Open-Sora 1.0, `cfg 2 x dsp 4` on 8 ranks: CFG and DSP collectives, text inputs split by cfg rank. */
const base = lowerText("pipelines/opensora-dsp.yaml", repoText("pipelines/opensora-dsp.yaml"));
/** The same model with `dsp 8`, PAB and MLP broadcast: cache buffers. */
const pab = lowerText("pipelines/opensora-dsp-pab.yaml", repoText("pipelines/opensora-dsp-pab.yaml"));

function schemaErrors(plan: unknown): string[] {
  const validate = planValidator();
  validate(JSON.parse(JSON.stringify(plan)));
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ""}`);
}

/** Mutates a copy of `from` and returns it rehashed. */
function mutated(from: Plan, change: (plan: Mutable<Plan>) => void): Plan {
  const plan = thaw(from);
  change(plan);
  return rehash(plan);
}

/** The first op that `pick` finds, as the JSON object it is (any field may be changed or deleted). */
function find(ops: readonly Op[], pick: (op: Op) => boolean): Record<string, unknown> {
  const op = ops.find(pick);
  expect(op).toBeDefined();
  return op as unknown as Record<string, unknown>;
}

/** A buffer of the plan by name. */
function buffer(plan: Mutable<Plan>, name: string): Mutable<Plan>["buffers"][number] {
  const b = plan.buffers.find((x) => x.name === name);
  expect(b, name).toBeDefined();
  return b!;
}

/** The plan stays schema-valid, and the verifier names the problem. */
function expectVerifierCatches(plan: Plan, pattern: RegExp): void {
  expect(schemaErrors(plan)).toEqual([]);
  const problems = verifyPlan(plan);
  expect(problems.some((p) => pattern.test(p)), problems.join("\n")).toBe(true);
}

describe("the starting plans", () => {
  it("are sound", () => {
    expect(schemaErrors(base)).toEqual([]);
    expect(verifyPlan(base)).toEqual([]);
    expect(verifyPlan(pab)).toEqual([]);
  });
});

describe("changes the published schema rejects", () => {
  it("an unknown op", () => {
    const plan = mutated(base, (p) => {
      (p.program.step as unknown[])[3] = { op: "conv3d", id: 3, x: "x", out: "x" };
    });
    expect(schemaErrors(plan).length).toBeGreaterThan(0);
  });

  it("an op without one of its fields", () => {
    const plan = mutated(base, (p) => {
      delete find(p.program.step, (o) => o.op === "linear").rows;
    });
    expect(schemaErrors(plan).length).toBeGreaterThan(0);
  });

  it("an op with a field it does not have", () => {
    const plan = mutated(base, (p) => {
      find(p.program.step, (o) => o.op === "all_to_all").group = [0, 1, 2, 3];
    });
    expect(schemaErrors(plan).length).toBeGreaterThan(0);
  });

  it("a stray top-level field, a buffer of an unknown dtype and a missing mesh", () => {
    expect(schemaErrors(mutated(base, (p) => ((p as unknown as Record<string, unknown>).extra = 1))).length).toBeGreaterThan(0);
    expect(schemaErrors(mutated(base, (p) => ((p.buffers[0] as { dtype: string }).dtype = "f64"))).length).toBeGreaterThan(0);
    expect(schemaErrors(mutated(base, (p) => delete (p as unknown as Record<string, unknown>).mesh)).length).toBeGreaterThan(0);
  });

  it("a 3-D view where a collective needs 4 dimensions", () => {
    const plan = mutated(base, (p) => {
      find(p.program.step, (o) => o.op === "all_to_all").dims = [2, 4, 1024];
    });
    expect(schemaErrors(plan).length).toBeGreaterThan(0);
  });
});

describe("changes the verifier catches", () => {
  it("a stale hash", () => {
    const plan = thaw(base);
    plan.name = "renamed";
    expectVerifierCatches(plan, /^hash .* is not the sha256/);
  });

  it("a linear whose rows disagree with its input", () => {
    const plan = mutated(base, (p) => {
      const op = find(p.program.step, (o) => o.op === "linear" && o.block === 3);
      op.rows = (op.rows as number) + 1;
    });
    expectVerifierCatches(plan, /^step op \d+ \(linear, spatial block 3\): x `spatial\.3\.in` holds \d+ values, not rows·inFeatures/);
  });

  it("a weight read with the wrong shape", () => {
    const plan = mutated(base, (p) => {
      const w = p.weights.find((x) => x.name === "blocks.0.attn.qkv.weight")!;
      w.shape = [...w.shape].reverse();
    });
    expectVerifierCatches(plan, /weight `blocks\.0\.attn\.qkv\.weight` is \[1152, 3456\], not \[3456, 1152\]/);
  });

  it("an attention whose packed qkv is too small for its heads", () => {
    const plan = mutated(base, (p) => {
      const op = find(p.program.step, (o) => o.op === "self_attention");
      op.heads = (op.heads as number) * 2;
    });
    expectVerifierCatches(plan, /self_attention.*: qkv `[^`]+` holds \d+ values, not batch·seq·3·heads·headDim/);
  });

  it("a read of a name that is neither a buffer nor a weight", () => {
    const plan = mutated(base, (p) => {
      find(p.program.step, (o) => o.op === "gate").x = "spatial.0.nowhere";
    });
    expectVerifierCatches(plan, /reads `spatial\.0\.nowhere`, which is neither a declared buffer nor a plan weight/);
  });

  it("a read of an activation before any op writes it", () => {
    const plan = mutated(base, (p) => {
      // The head's position add now reads the final layer's output, which is written near the end.
      const add = find(p.program.step, (o) => o.op === "add_rows");
      add.x = "final.in";
    });
    expectVerifierCatches(plan, /^step op 1 \(add_rows\) reads `final\.in` before anything writes it/);
  });

  it("ops out of order", () => {
    const plan = mutated(base, (p) => {
      const step = p.program.step;
      [step[4], step[5]] = [step[5]!, step[4]!];
    });
    expectVerifierCatches(plan, /^step op at position 4 has id 5/);
  });

  it("a collective over an axis of degree 1", () => {
    const plan = mutated(base, (p) => {
      find(p.program.step, (o) => o.op === "all_to_all").axis = "ulysses";
    });
    expectVerifierCatches(plan, /all_to_all.* communicates over ulysses, which has no groups in the mesh \(degree 1\)/);
  });

  it("an all-to-all whose scatter dimension does not split over its group", () => {
    const plan = mutated(base, (p) => {
      const op = find(p.program.step, (o) => o.op === "all_to_all" && o.scatter === 2);
      const [n, t, s, d] = op.dims as number[];
      op.dims = [n!, t! * s!, 1, d!];
    });
    expectVerifierCatches(plan, /all_to_all.*: scatter dim 2 of 1 does not split in 4/);
  });

  it("an all-gather whose output is not the group's parts together", () => {
    const plan = mutated(base, (p) => {
      find(p.program.step, (o) => o.op === "all_gather" && o.axis === "cfg").axis = "dsp";
    });
    expectVerifierCatches(plan, /all_gather.*: out `model\.out\.cfg` holds \d+ values, not the product of dims·4 ranks/);
  });

  it("mesh groups that do not partition the ranks", () => {
    const plan = mutated(base, (p) => {
      const groups = p.mesh.groups as Record<string, number[][]>;
      groups.dsp![1] = [...groups.dsp![0]!];
    });
    expectVerifierCatches(plan, /mesh groups of dsp hold rank 0 twice/);
  });

  it("two live activations sharing arena bytes", () => {
    const plan = mutated(base, (p) => {
      buffer(p, "spatial.0.in").offset = buffer(p, "x").offset;
    });
    expectVerifierCatches(plan, /buffers `x` and `spatial\.0\.in` overlap in the arena while both are live|buffers `spatial\.0\.in` and `x` overlap/);
  });

  it("a buffer past the end of the arena", () => {
    const plan = mutated(base, (p) => {
      p.arenaBytes -= 4096;
    });
    expectVerifierCatches(plan, /does not fit in the arena of \d+ bytes/);
  });

  it("a liveness span that misses an op using the buffer", () => {
    const plan = mutated(base, (p) => {
      const b = buffer(p, "t.emb");
      b.live = [b.live![0], b.live![0] + 1];
    });
    expectVerifierCatches(plan, /activation buffer `t\.emb` says live \[\d+, \d+\], but step ops \d+\.\.\d+ use it/);
  });

  it("a skipped branch handing its output over in an activation instead of a cache", () => {
    const plan = mutated(pab, (p) => {
      buffer(p, "cache.spatial.3.temporal").role = "activation";
    });
    expectVerifierCatches(plan, /^step op \d+ \(add, spatial block 3\) reads `cache\.spatial\.3\.temporal` from op \d+, which temporal attention broadcast skips; the buffer must be a cache/);
  });

  it("an op pulled out of its broadcast branch", () => {
    const plan = mutated(pab, (p) => {
      const attention = find(p.program.step, (o) => o.op === "self_attention" && o.pab === "spatial" && o.block === 7);
      delete attention.pab;
    });
    expectVerifierCatches(plan, /^step op \d+ \(self_attention, spatial block 7\) reads `spatial\.7\.attn\.qkv` from op \d+, which spatial attention broadcast skips/);
  });

  it("a PipeFusion K/V buffer too small for the keys its attention reads", () => {
    const pipefusion = lowerText("pipelines/pixart-pipefusion-cfg.yaml", repoText("pipelines/pixart-pipefusion-cfg.yaml"));
    expect(verifyPlan(pipefusion)).toEqual([]);
    const plan = mutated(pipefusion, (p) => {
      const op = find(p.program.step, (o) => o.op === "self_attention" && o.kvCache !== undefined && o.phase === "pipelined");
      const kv = op.kvCache as { keys: number; offset: number };
      kv.keys *= 2;
    });
    expectVerifierCatches(plan, /self_attention.*: kvCache `kv\.[^`]+` holds \d+ values, not batch·keys·2·heads·headDim/);
  });

  it("a cfg rank left without its unconditional text", () => {
    const plan = mutated(base, (p) => {
      p.inputs = p.inputs.filter((i) => !(i.buffer === "text" && i.cfgRank === 1));
    });
    expectVerifierCatches(plan, /^input buffer `text` has rows no input fills on cfg rank 1/);
  });

  it("a step op writing a setup table", () => {
    const plan = mutated(base, (p) => {
      find(p.program.step, (o) => o.op === "add_rows").out = "pos.spatial";
    });
    expectVerifierCatches(plan, /^step op 1 \(add_rows\) writes `pos\.spatial`, a table the setup program computes once/);
  });

  it("a text mask stored as floats", () => {
    const plan = mutated(base, (p) => {
      buffer(p, "text.mask").dtype = "f32";
    });
    expectVerifierCatches(plan, /cross_attention.*: `text\.mask` is f32, but the op reads integers/);
  });

  it("a step running a pattern that does not exist, and a guidance summary that disagrees with its op", () => {
    const plan = mutated(base, (p) => {
      p.steps[10]!.pattern = 9;
      p.schedule.guidance!.scale = 4.5;
    });
    expectVerifierCatches(plan, /^step 10 runs pattern 9, which does not exist/);
    expectVerifierCatches(plan, /^schedule\.guidance .* does not match the guidance op/);
    expect(opsOf(plan.program.step, "guidance")[0]!.scale).toBe(7);
  });
});
