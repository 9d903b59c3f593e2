import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers, validateMarked } from "../../../helpers/validate.js";
import { dedent } from "../model/pipelines.js";

const dit = (scheduler: string, conditioning = "conditioning: { labels: [207] }") =>
  dedent(`
    version: 1
    name: t
    model: { family: dit, variant: DiT-XL/2, checkpoint: random }
    ${conditioning}
    image: { height: 256, width: 256 }
  `) + scheduler;
const stdit3 = (scheduler: string) =>
  dedent(`
    version: 1
    name: t
    model: { family: stdit3, variant: STDiT3-XL/2, checkpoint: random }
    conditioning: { prompts: [a cat] }
    video: { frames: 51, height: 240, width: 424 }
  `) + scheduler;
const latte = (variant: string, scheduler: string, conditioning = "") =>
  dedent(`
    version: 1
    name: t
    model: { family: latte, variant: ${variant}, checkpoint: random }
    video: { frames: 16, height: 256, width: 256 }
  `) +
  conditioning +
  scheduler;

describe("SchedulerKnobRule (OD3401)", () => {
  it("underlines the key of a knob of another scheduler and names the kind it belongs to", () => {
    const r = validateMarked(dit("scheduler: { kind: iddpm, steps: 250, <|eta|>: 0.5, <|spacing|>: trailing, <|order|>: 2 }\n"));
    const [eta, , order] = expectCodeAtMarkers(r, "OD3401");
    expect(eta!.message).toBe("`scheduler.eta` applies only to the `ddim` scheduler, but `scheduler.kind` is `iddpm`, so it would be ignored.");
    expect(eta!.hint).toBe("Remove `eta: 0.5`, or use `kind: ddim`.");
    expect(order!.hint).toBe("Remove `order: 2`, or use `kind: dpm-solver`.");
  });

  it("does not offer a kind the family cannot use", () => {
    const r = validateMarked(stdit3("scheduler:\n  kind: rflow\n  steps: 30\n  <|shift|>: 3\n  <|eta|>: 0\n"));
    const [shift, eta] = expectCodeAtMarkers(r, "OD3401");
    expect(shift!.hint).toBe("Remove `shift: 3`, or use `kind: euler`.");
    expect(eta!.hint).toBe("Remove `eta: 0`.");
  });

  it("underlines timestep_transform on a sampler other than rflow", () => {
    expectCodeAtMarkers(validateMarked(stdit3("scheduler: { kind: euler, steps: 30, <|timestep_transform|>: false }\n")), "OD3401");
  });

  it("accepts each knob with its own kind", () => {
    expectCodeAtMarkers(validateMarked(dit("scheduler: { kind: ddim, steps: 50, eta: 0, spacing: trailing }\n")), "OD3401");
    expectCodeAtMarkers(validateMarked(dit("scheduler: { kind: dpm-solver, steps: 20, order: 2, train_steps: 1000 }\n")), "OD3401");
    expectCodeAtMarkers(validateMarked(stdit3("scheduler: { kind: rflow, steps: 30, timestep_transform: false }\n")), "OD3401");
    expectCodeAtMarkers(validateMarked(stdit3("scheduler: { kind: euler, steps: 30, shift: 3 }\n")), "OD3401");
  });
});

describe("SchedulerFamilyRule (OD3402)", () => {
  it("underlines an eps sampler on a flow model and offers the family default", () => {
    const r = validateMarked(stdit3("scheduler: { kind: <|iddpm|>, steps: 100 }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3402");
    expect(d!.message).toContain("predicts a rectified-flow velocity");
    expect(d!.message).toContain("The samplers that fit are `rflow` and `euler`.");
    expect(d!.hint).toBe("Use `kind: rflow` with `steps: 30` (the reference default).");
    expect(d!.suggestions).toEqual(["rflow", "euler"]);
  });

  it("underlines a flow sampler on a noise-prediction model", () => {
    const r = validateMarked(dit("scheduler:\n  kind: <|rflow|>\n  steps: 30\n"));
    const [d] = expectCodeAtMarkers(r, "OD3402");
    expect(d!.message).toContain("predicts noise (eps)");
    expect(d!.hint).toBe("Use `kind: iddpm` with `steps: 250` (the reference default).");
  });

  it("accepts the family's samplers", () => {
    for (const kind of ["iddpm", "ddim", "dpm-solver"]) expectCodeAtMarkers(validateMarked(dit(`scheduler: { kind: ${kind}, steps: 20 }\n`)), "OD3402");
    for (const kind of ["rflow", "euler"]) expectCodeAtMarkers(validateMarked(stdit3(`scheduler: { kind: ${kind}, steps: 20 }\n`)), "OD3402");
  });
});

describe("GuidanceUncondRule (OD3403)", () => {
  it("underlines guidance on an optionally labelled model run without labels", () => {
    const r = validateMarked(latte("Latte-XL/2", "scheduler: { kind: iddpm, steps: 250, guidance: <|7.0|> }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3403");
    expect(d!.message).toContain("without `conditioning.labels`");
    expect(d!.hint).toBe("Use `guidance: 1` for unconditional samples, or add `conditioning: { labels: [0] }` to condition on a class.");
    expect(d!.suggestions).toEqual(["1"]);
  });

  it("underlines guidance on an unconditional checkpoint and names the labelled variant", () => {
    const r = validateMarked(latte("Latte-XL/2-uncond", "scheduler: { kind: iddpm, steps: 250, guidance: <|4|> }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3403");
    expect(d!.message).toContain("no class embedder");
    expect(d!.hint).toContain("`variant: Latte-XL/2`");
  });

  it("accepts guidance with labels, guidance 1 without, and no guidance (the default is then 1)", () => {
    const withLabels = validateMarked(latte("Latte-XL/2", "scheduler: { kind: iddpm, steps: 250, guidance: 7 }\n", "conditioning: { labels: [5] }\n"));
    expectCodeAtMarkers(withLabels, "OD3403");
    expect(withLabels.facts?.cfg).toBe(true);
    expectCodeAtMarkers(validateMarked(latte("Latte-XL/2", "scheduler: { kind: iddpm, steps: 250, guidance: 1 }\n")), "OD3403");
    const unguided = validateMarked(latte("Latte-XL/2", "scheduler: { kind: iddpm, steps: 250 }\n"));
    expectCodeAtMarkers(unguided, "OD3403");
    expect(unguided.facts?.guidance).toBe(1);
    expect(unguided.facts?.cfg).toBe(false);
  });

  it("accepts guidance on class and text models", () => {
    expectCodeAtMarkers(validateMarked(dit("scheduler: { kind: iddpm, steps: 250, guidance: 4 }\n")), "OD3403");
    expectCodeAtMarkers(validateMarked(stdit3("scheduler: { kind: rflow, steps: 30, guidance: 7 }\n")), "OD3403");
  });
});

describe("SchedulerSettingsRule (OD3404)", () => {
  it("refuses DPM-Solver++ order 3 on the order value", () => {
    const r = validateMarked(dit("scheduler: { kind: dpm-solver, steps: 20, order: <|3|> }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3404");
    expect(d!.message).toContain("order 3 is not supported");
    expect(d!.hint).toBe("Use `order: 2` (DPM-Solver++ 2M, the reference default).");
  });

  it("refuses more respaced steps than training steps, and one IDDPM step", () => {
    const more = validateMarked(dit("scheduler: { kind: ddim, spacing: iddpm, steps: <|200|>, train_steps: 100 }\n"));
    expect(expectCodeAtMarkers(more, "OD3404")[0]!.hint).toBe("Use between 2 and 100 steps.");
    const one = validateMarked(dit("scheduler: { kind: iddpm, steps: <|1|> }\n"));
    expectCodeAtMarkers(one, "OD3404");
  });

  it("accepts the reference settings", () => {
    for (const s of ["{ kind: iddpm, steps: 250 }", "{ kind: dpm-solver, steps: 20, order: 2 }", "{ kind: ddim, steps: 50, spacing: iddpm }"]) {
      const r = validateMarked(dit(`scheduler: ${s}\n`));
      expect(r.diagnostics.filter((d) => d.code === "OD3404")).toEqual([]);
    }
  });
});

describe("RflowFramesRule (OD3405)", () => {
  const video = (frames: string, extra = "") =>
    dedent(`
      version: 1
      name: t
      model: { family: stdit3, variant: STDiT3-XL/2, checkpoint: random }
      conditioning: { prompts: [a cat] }
      video: { frames: ${frames}, height: 240, width: 424 }
    `) + `scheduler: { kind: rflow, steps: 30${extra} }\n`;

  it("refuses 2 to 16 frames, where the transform collapses every timestep", () => {
    const r = validateMarked(video("<|16|>"));
    const [d] = expectCodeAtMarkers(r, "OD3405");
    expect(d!.hint).toContain("17 frames or more");
    expect(r.facts?.timesteps).toBeUndefined();
  });

  it("accepts an image, 17 frames and more, or the transform turned off", () => {
    for (const r of [validateMarked(video("1")), validateMarked(video("51")), validateMarked(video("16", ", timestep_transform: false"))]) {
      expect(r.diagnostics.filter((d) => d.code === "OD3405")).toEqual([]);
      expect(r.facts?.timesteps?.every(Number.isFinite)).toBe(true);
    }
  });
});
