/**
 * The documents the fuzz test mutates: every pipeline in pipelines/ (whatever exists) plus seeds of its own
 * that reach corners the examples do not (explicit hyperparameters, odd layouts, YAML features opendit
 * rejects, .odit error productions).
 */
import { readdirSync, readFileSync } from "node:fs";

export interface SeedDocument {
  readonly path: string;
  readonly text: string;
}

const PIPELINES = new URL("../../../pipelines/", import.meta.url);

const OWN_SEEDS: readonly SeedDocument[] = [
  {
    path: "seed/tiny-dit.yaml",
    text: [
      "version: 1",
      "name: tiny-dit",
      "model:",
      "  family: dit",
      "  hyper: { hidden: 96, depth: 3, heads: 6, patch: 2, in_channels: 4, learn_sigma: true, num_classes: 10 }",
      "  checkpoint: random",
      "  dtype: bf16",
      "conditioning: { labels: [1, 2, 3, 4] }",
      "image: { height: 64, width: 64 }",
      "seed: 7",
      "scheduler: { kind: ddim, steps: 25, guidance: 3.0 }",
      'parallel: { world: 4, layout: "dp 2 x cfg 2" }',
      "vae: { kind: sd-vae-ft-mse, checkpoint: vae.safetensors }",
      "output: { dir: out, formats: [png, latents] }",
      "runtime: { backend: cuda, gpu: a100, devices: [0, 1, 2, 3] }",
      "",
    ].join("\n"),
  },
  {
    path: "seed/latte-usp.yaml",
    text: [
      "version: 1",
      "name: latte-usp",
      "model: { family: latte-t2v, variant: Latte-1, checkpoint: ckpts/latte.safetensors, dtype: fp16 }",
      "conditioning:",
      "  prompts:",
      "    - a cat",
      "    - 'a dog: running'",
      '    - "an owl\\tflying"',
      "  text_encoder: t5-v1_1-xxl",
      "video: { frames: 16, height: 512, width: 512, fps: 8 }",
      "scheduler: { kind: ddim, steps: 50, guidance: 7.5 }",
      'parallel: { world: 8, layout: "cfg 2 x ulysses 2 x ring 2" }',
      "acceleration:",
      "  pab:",
      '    spatial: "every 2 in [100, 800]"',
      '    temporal: "off"',
      "    mlp: { temporal: { steps: [10, 20], blocks: [0, 27], reuse: 3 } }",
      "output: { dir: out, formats: [gif] }",
      "",
    ].join("\n"),
  },
  {
    path: "seed/yaml-features.yml",
    text: [
      "%YAML 1.1",
      "---",
      "base: &base { family: dit, variant: DiT-XL/2 }",
      "model:",
      "  <<: *base",
      "  checkpoint: !!str 123",
      "flags: [yes, no, on, off, 0o17, 012, 1_000, .inf, -.NaN, ~]",
      "text: |",
      "  line one",
      "    indented",
      "folded: >-",
      "  a",
      "  b",
      "? complex key",
      ": value",
      "dup: 1",
      "dup: 2",
      "...",
      "---",
      "second: document",
      "",
    ].join("\n"),
  },
  {
    path: "seed/tiny-stdit.odit",
    text: [
      "# a comment",
      "version 1",
      "name tiny-stdit",
      "model {",
      "  family stdit3",
      "  hyper { hidden 128  depth 2  heads 8  patch 2  patch_t 1  caption_channels 4096 }",
      '  checkpoint "random"',
      "}",
      'conditioning { prompts ["a \\"quoted\\" prompt", "second"]  text_encoder t5-v1_1-xxl }',
      "video { frames 51  height 720  width 1280  fps 24 }",
      "scheduler { kind rflow  steps 30  guidance 7.0 }",
      "parallel { world 4  layout dsp 2 x cfg 2 }",
      "acceleration {",
      "  pab {",
      "    spatial every 2 in [450, 930]",
      "    cross off",
      "    mlp { spatial { steps [1, 2, 3]  blocks [0, 1]  reuse 2 } }",
      "  }",
      "}",
      "vae { kind opensora-vae-v1.2 }",
      "output { dir out  formats [mp4] }",
      "runtime { backend cuda; gpu h200, devices [0, 1, 2, 3] }",
      "",
    ].join("\n"),
  },
  {
    path: "seed/odit-errors.odit",
    text: ['a { b [1, 2 }', 'c "open', "d @ 3", "l cfg 2 x", "e every 2 [", "} f", "g {{{ h 1 }}}", "a 1", ""].join("\n"),
  },
];

export function seedDocuments(): SeedDocument[] {
  const pipelines = readdirSync(PIPELINES)
    .filter((name) => /\.(ya?ml|odit)$/.test(name))
    .sort()
    .map((name) => ({ path: `pipelines/${name}`, text: readFileSync(new URL(name, PIPELINES), "utf8") }));
  return [...pipelines, ...OWN_SEEDS];
}
