/**
 * The Spec: the typed model of one pipeline file. One TypeBox definition gives both the TypeScript types and
 * the published draft-07 JSON Schema (schema/pipeline-v1.schema.json, `opendit schema`), so editors, ajv and
 * the compiler agree on what a pipeline is. Semantic rules (compiler/check) run only once this schema passes.
 */
import { Type, type Static, type TSchema, type TUnsafe } from "@sinclair/typebox";

/** A string enum written as JSON Schema `enum` (ajv then reports one error listing the allowed names). */
function StringEnum<const T extends readonly string[]>(values: T, description: string): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], description });
}

function Obj<P extends Record<string, TSchema>>(properties: P, description: string) {
  return Type.Object(properties, { additionalProperties: false, description });
}

export const FAMILIES = ["dit", "pixart", "latte", "latte-t2v", "stdit", "stdit3", "opensora-plan"] as const;
export type Family = (typeof FAMILIES)[number];

export const DTYPES = ["fp32", "fp16", "bf16"] as const;
export type Dtype = (typeof DTYPES)[number];

export const SCHEDULERS = ["iddpm", "ddim", "dpm-solver", "rflow", "euler"] as const;
export type SchedulerKind = (typeof SCHEDULERS)[number];

export const TEXT_ENCODERS = ["t5-v1_1-xxl"] as const;
export const VAE_KINDS = ["sd-vae-ft-ema", "sd-vae-ft-mse", "sdxl-vae", "opensora-vae-v1.2", "causalvae-4x8x8", "none"] as const;
export type VaeKind = (typeof VAE_KINDS)[number];
export const OUTPUT_FORMATS = ["latents", "png", "gif", "mp4"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export const BACKENDS = ["cpu", "cuda"] as const;
export const GPUS = ["h100", "h200", "a100", "l40"] as const;
export type GpuName = (typeof GPUS)[number];

const MAX_SAFE = 9007199254740991;

const Hyper = Obj(
  {
    hidden: Type.Integer({ minimum: 1, description: "Hidden size D." }),
    depth: Type.Integer({ minimum: 1, description: "Number of blocks (for spatial-temporal models: of each kind)." }),
    heads: Type.Integer({ minimum: 1, description: "Attention heads; D / heads is the head size." }),
    patch: Type.Optional(Type.Integer({ minimum: 1, description: "Spatial patch size (default 2)." })),
    patch_t: Type.Optional(Type.Integer({ minimum: 1, description: "Temporal patch size of video models (default 1)." })),
    in_channels: Type.Optional(Type.Integer({ minimum: 1, description: "Latent channels (default 4)." })),
    learn_sigma: Type.Optional(Type.Boolean({ description: "Whether the output carries the learned variance half (default true)." })),
    mlp_ratio: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: "MLP hidden size as a multiple of D (default 4)." })),
    caption_channels: Type.Optional(Type.Integer({ minimum: 1, description: "Text feature channels (T5-XXL: 4096)." })),
    text_tokens: Type.Optional(Type.Integer({ minimum: 1, description: "Text tokens the model reads (family default)." })),
    num_classes: Type.Optional(Type.Integer({ minimum: 1, description: "Classes of a class-conditional model (without the null class)." })),
  },
  "Explicit hyperparameters, for custom and tiny sizes (instead of a named variant).",
);

const Model = Obj(
  {
    family: StringEnum(FAMILIES, "The model family; its architecture and checkpoint names come from compiler/models."),
    variant: Type.Optional(Type.String({ minLength: 1, description: "A named size of the family, such as `STDiT-XL/2` or `DiT-XL/2`." })),
    hyper: Type.Optional(Hyper),
    checkpoint: Type.String({
      minLength: 1,
      description: "Path to the checkpoint (.safetensors), relative to this file, or `random` for seeded random weights.",
    }),
    weights_seed: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SAFE, description: "Seed of `checkpoint: random` weights (default 0)." })),
    dtype: Type.Optional(StringEnum(DTYPES, "Storage and compute type on GPUs (default bf16; the CPU backend computes in fp32).")),
  },
  "The model and its weights.",
);

const Conditioning = Obj(
  {
    prompts: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: "Text prompts, one sample each." })),
    negative_prompt: Type.Optional(Type.String({ description: "Negative prompt for guidance (families whose null input is a text encoding)." })),
    text_encoder: Type.Optional(StringEnum(TEXT_ENCODERS, "Text encoder that turns prompts into features.")),
    embeddings: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "Precomputed text features of one sample, instead of prompts: a safetensors file with `y` [1, L, C] (float32) and `mask` [1, L] (int32), L and C the model's text tokens and caption channels (T5-XXL: C = 4096); families that guide against a negative prompt also read its features `negative_y` [1, L, C] there.",
      }),
    ),
    labels: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, description: "Class labels of a class-conditional model." })),
  },
  "What the samples are conditioned on.",
);

const Video = Obj(
  {
    frames: Type.Integer({ minimum: 1, maximum: 4096, description: "Frames of the output video." }),
    height: Type.Integer({ minimum: 8, maximum: 16384, description: "Height in pixels." }),
    width: Type.Integer({ minimum: 8, maximum: 16384, description: "Width in pixels." }),
    fps: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1000, description: "Frames per second (a model input for stdit3; otherwise for the output file)." })),
  },
  "Size of a video (video families).",
);

const Image = Obj(
  {
    height: Type.Integer({ minimum: 8, maximum: 16384, description: "Height in pixels." }),
    width: Type.Integer({ minimum: 8, maximum: 16384, description: "Width in pixels." }),
  },
  "Size of an image (image families).",
);

const Scheduler = Obj(
  {
    kind: StringEnum(SCHEDULERS, "The sampler."),
    steps: Type.Integer({ minimum: 1, maximum: 1000, description: "Denoising steps." }),
    guidance: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: "Classifier-free guidance scale; 1 or below runs no unconditional branch." })),
    eta: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: "DDIM: noise scale (0 is deterministic)." })),
    order: Type.Optional(Type.Integer({ minimum: 1, maximum: 3, description: "DPM-Solver++: solver order (default 2)." })),
    shift: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, description: "Euler flow matching: timestep shift (default 1)." })),
    timestep_transform: Type.Optional(
      Type.Boolean({ description: "Rectified flow: Open-Sora 1.2's resolution and frame-count timestep shift (default true)." }),
    ),
    train_steps: Type.Optional(Type.Integer({ minimum: 2, maximum: 100000, description: "Training timesteps of the noise schedule (default 1000)." })),
    spacing: Type.Optional(
      StringEnum(
        ["leading", "trailing", "linspace", "iddpm"] as const,
        "DDIM: how the steps are spaced over the training timesteps (diffusers' leading, trailing or linspace; or `iddpm`, the respaced steps of IDDPM's ddim_sample).",
      ),
    ),
    cfg_channels: Type.Optional(
      StringEnum(["official", "all"] as const, "Which output channels guidance mixes: `official` keeps each family's reference quirk (DiT: the first 3)."),
    ),
  },
  "The sampler and its settings.",
);

const PipeFusion = Obj(
  {
    patches: Type.Integer({ minimum: 1, maximum: 1024, description: "Patches the latent rows are split into." }),
    warmup: Type.Integer({ minimum: 0, maximum: 1000, description: "Synchronous warm-up steps before the patch pipeline starts." }),
  },
  "PipeFusion settings (with a `pipefusion` axis in the layout).",
);

const Parallel = Obj(
  {
    world: Type.Integer({ minimum: 1, maximum: 65536, description: "Number of ranks (GPUs, or CPU processes)." }),
    layout: Type.Optional(
      Type.String({
        minLength: 1,
        description: "How the ranks split the work, innermost axis last: `axis degree` terms joined by `x`, such as `cfg 2 x dsp 4`. Axes: dp, cfg, dsp, ulysses, ring, pipefusion.",
      }),
    ),
    pipefusion: Type.Optional(PipeFusion),
    pad: Type.Optional(Type.Boolean({ description: "Allow uneven splits by padding (the waste is reported)." })),
    pad_heads: Type.Optional(Type.Boolean({ description: "Allow a Ulysses degree that does not divide the heads, by padding zero heads." })),
  },
  "The parallel layout.",
);

const PabWindow = Type.String({
  minLength: 1,
  description: "`every N in [low, high]`: inside the timestep window (strictly), recompute at steps whose index is a multiple of N and reuse otherwise; or `off`.",
});

const MlpBroadcast = Obj(
  {
    steps: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, uniqueItems: true, description: "Step indices (0 = first step) at which the MLP output is computed and kept." }),
    blocks: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, uniqueItems: true, description: "Block indices whose MLP is broadcast." }),
    reuse: Type.Integer({ minimum: 1, maximum: 1000, description: "Steps after each kept step that reuse it." }),
  },
  "MLP broadcast: keep a block's MLP output at some steps and reuse it on the following ones.",
);

const Pab = Obj(
  {
    spatial: Type.Optional(PabWindow),
    temporal: Type.Optional(PabWindow),
    cross: Type.Optional(PabWindow),
    mlp: Type.Optional(
      Obj({ spatial: Type.Optional(MlpBroadcast), temporal: Type.Optional(MlpBroadcast) }, "MLP broadcast per block kind."),
    ),
  },
  "Pyramid Attention Broadcast: per attention kind, reuse the attention output inside a timestep window.",
);

const Acceleration = Obj({ pab: Type.Optional(Pab) }, "Caching that skips recomputation between steps.");

const VaeTiling = Obj(
  {
    tile: Type.Optional(
      Type.Integer({ minimum: 8, maximum: 16384, description: "Tile size in image pixels, a multiple of 8 (default 512; a dimension smaller than the tile is one tile)." }),
    ),
    overlap: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 16384, description: "Pixels neighbouring tiles share, blended with linear ramps; a multiple of 8 below the tile (default 64)." }),
    ),
  },
  "Tile sizes of a tiled decode.",
);

const Vae = Obj(
  {
    kind: StringEnum(VAE_KINDS, "The VAE that decodes latents (`none` keeps latents only)."),
    checkpoint: Type.Optional(
      Type.String({ minLength: 1, description: "Path to the VAE weights (.safetensors, diffusers or original LDM names), relative to this file, or `random` for seeded random weights." }),
    ),
    weights_seed: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SAFE, description: "Seed of `checkpoint: random` VAE weights (default 0)." })),
    dtype: Type.Optional(
      StringEnum(DTYPES, "Storage and compute type of the decode on GPUs (default: the model's, but bf16 for the SDXL VAE of an fp16 model, which overflows fp16)."),
    ),
    tiling: Type.Optional(
      Type.Union([Type.Boolean(), VaeTiling], {
        description: "Decode each frame in overlapping tiles to bound memory: `true` (512-pixel tiles, 64 pixels of overlap), `{ tile, overlap }`, or `false` (default).",
      }),
    ),
    parallel: Type.Optional(
      StringEnum(
        ["patch", "none"] as const,
        "`patch` splits each frame's latent rows over the ranks that hold the same samples (halo rows exchanged, GroupNorm reduced exactly; one such rank decodes whole frames); default `patch` when there are several such ranks, no tiling and no PipeFusion, and the latent height divides by their number; else `none`.",
      ),
    ),
    frames_per_pass: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 4096, description: "Frames decoded together in one pass (default 1; a value above the latent frames decodes them all in one pass)." }),
    ),
  },
  "Decoding latents to pixels.",
);

const Output = Obj(
  {
    dir: Type.Optional(Type.String({ minLength: 1, description: "Output directory, relative to where opendit runs (default `outputs/<name>`)." })),
    formats: Type.Optional(
      Type.Array(StringEnum(OUTPUT_FORMATS, "An output format."), { minItems: 1, uniqueItems: true, description: "What to write (default `[latents]`)." }),
    ),
    preview_every: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          "During the run, after every N-th step, write the linear latent preview of the latent then to `previews/step-<k>.png` (images) or `.gif` (video) in the output directory (needs a VAE whose latents have a linear preview: sd-vae-ft-ema, sd-vae-ft-mse, causalvae-4x8x8).",
      }),
    ),
  },
  "What is written, and where.",
);

const Runtime = Obj(
  {
    backend: Type.Optional(StringEnum(BACKENDS, "Where the plan runs (default cuda where built, else cpu).")),
    gpu: Type.Optional(StringEnum(GPUS, "The GPU the memory and time estimates are made for (default h100).")),
    devices: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, uniqueItems: true, description: "Local device ids to use, one per local rank." })),
  },
  "Where it runs.",
);

export const SpecSchema = Type.Object(
  {
    version: Type.Literal(1, { description: "Pipeline file format version." }),
    name: Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]*$", maxLength: 128, description: "Name of the pipeline (letters, digits, `.`, `_`, `-`)." }),
    description: Type.Optional(Type.String({ description: "Free text." })),
    model: Model,
    conditioning: Type.Optional(Conditioning),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SAFE, description: "Seed of the initial noise (default 0)." })),
    noise: Type.Optional(Type.String({ minLength: 1, description: "Initial noise from a safetensors file (tensor `noise`) instead of the seed." })),
    video: Type.Optional(Video),
    image: Type.Optional(Image),
    scheduler: Scheduler,
    parallel: Type.Optional(Parallel),
    acceleration: Type.Optional(Acceleration),
    vae: Type.Optional(Vae),
    output: Type.Optional(Output),
    runtime: Type.Optional(Runtime),
  },
  {
    additionalProperties: false,
    $id: "https://opendit.dev/schema/pipeline-v1.schema.json",
    title: "opendit pipeline",
    description: "One DiT image or video inference pipeline: model, size, sampler, parallel layout, caching and outputs.",
  },
);

export type Spec = Static<typeof SpecSchema>;
export type ModelSpec = Spec["model"];
export type HyperSpec = NonNullable<ModelSpec["hyper"]>;
export type SchedulerSpec = Spec["scheduler"];
export type ParallelSpec = NonNullable<Spec["parallel"]>;
export type PabSpec = NonNullable<NonNullable<Spec["acceleration"]>["pab"]>;
export type MlpBroadcastSpec = NonNullable<NonNullable<PabSpec["mlp"]>["spatial"]>;
export type VaeSpec = NonNullable<Spec["vae"]>;

/** The published draft-07 schema, as plain JSON (TypeBox's symbols dropped). */
export function publishedSchema(): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(SpecSchema)) as Record<string, unknown>;
  return { $schema: "http://json-schema.org/draft-07/schema#", ...plain };
}
