import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers, validateMarked, withCode } from "../../../helpers/validate.js";

const dit = (model: string, extra = "") => `version: 1
name: t
model: ${model}
conditioning: { labels: [207, 360] }
image: { height: 256, width: 256 }
scheduler: { kind: iddpm, steps: 250, guidance: 4.0 }
${extra}`;

const stdit = (conditioning: string, extra = "") => `version: 1
name: t
model: { family: stdit, variant: STDiT-XL/2, checkpoint: random }
conditioning: ${conditioning}
video: { frames: 16, height: 256, width: 256 }
scheduler: { kind: iddpm, steps: 100, guidance: 7.0 }
${extra}`;

describe("CheckpointPresentRule (OD3501)", () => {
  it("warns about a missing model checkpoint while validating, resolved against the file's directory", () => {
    const r = validateMarked(dit("{ family: dit, variant: DiT-XL/2, checkpoint: <|weights/dit.safetensors|> }"));
    const [d] = expectCodeAtMarkers(r, "OD3501");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toBe(
      "`model.checkpoint` names `weights/dit.safetensors`, which does not exist (looked for `/nonexistent/weights/dit.safetensors`); `opendit run` will need it.",
    );
    expect(d!.hint).toBe(
      "Write `checkpoint: random` for a smoke run with seeded random weights, or download the official DiT-XL/2 weights " +
        "(facebookresearch/DiT: DiT-XL-2-256x256.pt or DiT-XL-2-512x512.pt), convert them to .safetensors and give their path relative to this file.",
    );
    expect(d!.suggestions).toEqual(["random"]);
  });

  it("names no official weights for a variant that has none", () => {
    const r = validateMarked(dit("{ family: dit, variant: DiT-S/2, checkpoint: <|dit-s.safetensors|> }"));
    const [d] = expectCodeAtMarkers(r, "OD3501");
    expect(d!.hint).toBe("Write `checkpoint: random` for a smoke run with seeded random weights, or give the path of the weights (.safetensors) relative to this file.");
  });

  it("makes it an error when about to run", () => {
    const r = validateMarked(dit("{ family: dit, variant: DiT-XL/2, checkpoint: <|weights/dit.safetensors|> }"), "test.yaml", { mode: "run" });
    const [d] = expectCodeAtMarkers(r, "OD3501");
    expect(d!.severity).toBe("error");
    expect(d!.message).toContain("`opendit run` cannot start without it");
  });

  it("accepts `random` and a file that exists", () => {
    expect(withCode(validateMarked(dit("{ family: dit, variant: DiT-XL/2, checkpoint: random }")), "OD3501")).toEqual([]);
    const r = validateMarked(dit("{ family: dit, variant: DiT-XL/2, checkpoint: /data/dit.safetensors }"), "test.yaml", {
      fileExists: (p) => p === "/data/dit.safetensors",
    });
    expect(withCode(r, "OD3501")).toEqual([]);
  });

  it("checks the VAE checkpoint and names where its weights come from", () => {
    const r = validateMarked(
      dit("{ family: dit, variant: DiT-XL/2, checkpoint: random }", "vae: { kind: sd-vae-ft-ema, checkpoint: <|vae.safetensors|> }\n"),
    );
    const [d] = expectCodeAtMarkers(r, "OD3501");
    expect(d!.message).toContain("`vae.checkpoint` names `vae.safetensors`");
    expect(d!.hint).toBe(
      "Write `checkpoint: random` for a smoke run, or download the sd-vae-ft-ema weights (stabilityai/sd-vae-ft-ema) as .safetensors and give their path relative to this file.",
    );
  });
});

describe("InputFilesPresentRule (OD3504)", () => {
  it("underlines missing embeddings and noise files", () => {
    const r = validateMarked(stdit("{ embeddings: <|emb/prompts.safetensors|> }", "noise: <|noise.safetensors|>\n"));
    const [emb, noise] = expectCodeAtMarkers(r, "OD3504");
    expect(emb!.severity).toBe("warning");
    expect(emb!.message).toContain("`conditioning.embeddings` names `emb/prompts.safetensors`, which does not exist");
    expect(emb!.hint).toContain("`y` [1, L, C] and `mask` [1, L] (the model's text tokens and caption channels)");
    expect(noise!.hint).toBe("Remove `noise` to draw the initial noise from `seed: 0`, or write a safetensors file with the tensor `noise` at that path.");
  });

  it("makes them errors when about to run, and accepts files that exist", () => {
    const run = validateMarked(stdit('{ prompts: ["a cat"] }', "noise: <|noise.safetensors|>\n"), "test.yaml", { mode: "run" });
    expect(expectCodeAtMarkers(run, "OD3504")[0]!.severity).toBe("error");
    const ok = validateMarked(stdit("{ embeddings: emb.safetensors }", "noise: noise.safetensors\n"), "/p/test.yaml", {
      baseDir: "/p",
      fileExists: (p) => p === "/p/emb.safetensors" || p === "/p/noise.safetensors",
    });
    expect(withCode(ok, "OD3504")).toEqual([]);
  });
});

describe("DevicesCountRule (OD3505)", () => {
  const withDevices = (devices: string) =>
    dit(
      "{ family: dit, variant: DiT-XL/2, checkpoint: random }",
      `parallel: { world: 8, layout: "dp 8" }\nruntime: { devices: ${devices} }\n`,
    );

  it("underlines a device list whose length does not divide the world", () => {
    const r = validateMarked(withDevices("<|[0, 1, 2]|>"));
    const [d] = expectCodeAtMarkers(r, "OD3505");
    expect(d!.message).toBe(
      "`runtime.devices` lists 3 devices, one per local rank, but `parallel.world` 8 is not a multiple of 3: the last node would run 2 ranks.",
    );
    expect(d!.hint).toBe("List 2 devices per node (4 nodes of 2): `devices: [0, 1]`, or set `world` to a multiple of 3.");
    expect(d!.suggestions).toEqual(["[0, 1]"]);
  });

  it("underlines more devices than ranks", () => {
    const r = validateMarked(
      dit("{ family: dit, variant: DiT-XL/2, checkpoint: random }", `parallel: { world: 2, layout: "cfg 2" }\nruntime: { devices: <|[0, 1, 2, 3]|> }\n`),
    );
    const [d] = expectCodeAtMarkers(r, "OD3505");
    expect(d!.message).toContain("a node cannot hold more ranks than the world");
    expect(d!.suggestions).toEqual(["[0, 1]"]);
  });

  it("accepts nodes of equal size", () => {
    expect(withCode(validateMarked(withDevices("[0, 1, 2, 3]")), "OD3505")).toEqual([]);
  });
});
