/**
 * The catalog of diagnostic codes. Codes are stable: a code is never reused for another meaning, so users
 * can search for them and CI systems can track them across runs (SARIF fingerprints use them).
 *
 * Ranges: OD10xx YAML syntax, OD11xx .odit syntax, OD12xx expression forms (layouts, PAB windows),
 * OD20xx schema, OD31xx parallel layout, OD32xx acceleration (PAB), OD33xx model, size, conditioning and
 * outputs, OD34xx scheduler, OD35xx resources (files, memory, devices), OD90xx tool errors.
 */
import type { Severity } from "./diagnostic.js";

export interface CodeInfo {
  readonly name: string;
  readonly severity: Severity;
  /** One sentence: what the code means, for docs/DIAGNOSTICS.md and SARIF rule descriptions. */
  readonly summary: string;
}

const catalog = {
  // OD10xx: YAML syntax
  OD1001: { name: "yaml-syntax", severity: "error", summary: "The file is not valid YAML." },
  OD1002: { name: "yaml-duplicate-key", severity: "error", summary: "A key appears twice in one mapping; YAML would silently keep only one." },
  OD1003: { name: "yaml-alias-limit", severity: "error", summary: "The document uses more aliases than allowed (a guard against alias bombs)." },
  OD1004: { name: "yaml-multiple-documents", severity: "error", summary: "A pipeline file holds exactly one YAML document." },
  OD1005: { name: "yaml-ambiguous-scalar", severity: "warning", summary: "A plain value reads differently under YAML 1.1 (PyYAML) than under YAML 1.2; quote it." },
  OD1006: { name: "yaml-merge-key", severity: "error", summary: "YAML merge keys (`<<`) are not supported in pipeline files." },
  OD1007: { name: "yaml-version-directive", severity: "warning", summary: "A `%YAML` directive changes how values are read; pipeline files are YAML 1.2." },
  OD1008: { name: "yaml-non-string-key", severity: "error", summary: "A mapping key must be a plain string." },
  OD1009: { name: "yaml-warning", severity: "warning", summary: "The YAML parser warned about this construct." },
  OD1010: { name: "empty-document", severity: "error", summary: "The file holds no pipeline." },
  // OD11xx: .odit syntax
  OD1101: { name: "odit-unexpected-character", severity: "error", summary: "A character that cannot start any .odit token." },
  OD1102: { name: "odit-syntax", severity: "error", summary: "The .odit text does not follow the grammar at this point." },
  OD1103: { name: "odit-unterminated-string", severity: "error", summary: "A string is not closed before the end of its line." },
  OD1104: { name: "odit-duplicate-key", severity: "error", summary: "A key appears twice in one block." },
  // OD12xx: expression forms shared by both syntaxes
  OD1201: { name: "layout-syntax", severity: "error", summary: "A parallel layout is written as `axis degree` terms joined by `x`, such as `cfg 2 x dsp 4`." },
  OD1202: { name: "layout-unknown-axis", severity: "error", summary: "A layout names an axis that does not exist (dp, cfg, dsp, ulysses, ring, pipefusion)." },
  OD1203: { name: "layout-repeated-axis", severity: "error", summary: "A layout names the same axis twice." },
  OD1204: { name: "layout-degree", severity: "error", summary: "A layout degree must be a whole number of at least 1." },
  OD1211: { name: "window-syntax", severity: "error", summary: "A PAB window is written as `every N in [low, high]`, or `off`." },
  OD1212: { name: "window-bounds", severity: "error", summary: "A PAB window's low bound must be below its high bound, and `every` at least 1." },
  // OD20xx: schema
  OD2001: { name: "unknown-key", severity: "error", summary: "A key that the pipeline schema does not define at this place." },
  OD2002: { name: "missing-key", severity: "error", summary: "A required key is missing." },
  OD2003: { name: "wrong-type", severity: "error", summary: "A value has the wrong type (for example a string where a number belongs)." },
  OD2004: { name: "unknown-value", severity: "error", summary: "A value is not one of the allowed names." },
  OD2005: { name: "out-of-range", severity: "error", summary: "A number is outside its allowed range." },
  OD2006: { name: "bad-format", severity: "error", summary: "A string does not have the required form." },
  OD2007: { name: "bad-length", severity: "error", summary: "A list or string is too short or too long." },
  OD2008: { name: "duplicate-item", severity: "error", summary: "A list holds the same item twice." },
  OD2009: { name: "schema-violation", severity: "error", summary: "The value does not match the pipeline schema." },
  OD2010: { name: "unsupported-version", severity: "error", summary: "This opendit reads pipeline files of `version: 1`." },
  // OD31xx: parallel layout
  OD3101: { name: "layout-product", severity: "error", summary: "The layout's degrees must multiply to the world size." },
  OD3102: { name: "ulysses-heads", severity: "error", summary: "The Ulysses degree must divide the model's attention head count (or heads must be padded)." },
  OD3103: { name: "dsp-divisibility", severity: "error", summary: "DSP shards frames and spatial tokens: both must divide by its degree (or be padded)." },
  OD3104: { name: "sequence-divisibility", severity: "error", summary: "Ulysses and Ring shard the token sequence: its length must divide by their degrees (or be padded)." },
  OD3105: { name: "cfg-parallel-guidance", severity: "error", summary: "CFG parallel needs guidance above 1: without it there is no unconditional branch to place." },
  OD3106: { name: "cfg-parallel-family", severity: "error", summary: "CFG parallel needs a model with an unconditional branch (null caption or null class)." },
  OD3107: { name: "cfg-degree", severity: "error", summary: "CFG parallel splits the conditional and unconditional halves: its degree is 2." },
  OD3108: { name: "dsp-family", severity: "error", summary: "DSP needs a spatial-temporal (video) model: it switches between frame and token sharding." },
  OD3109: { name: "pipefusion-settings", severity: "error", summary: "A `pipefusion` axis in the layout and the `parallel.pipefusion` settings go together." },
  OD3110: { name: "pipefusion-warmup", severity: "error", summary: "PipeFusion warm-up steps cannot exceed the sampler's steps." },
  OD3111: { name: "pipefusion-patches", severity: "error", summary: "PipeFusion patches must split the latent rows into heights that are multiples of patch size x sequence degree." },
  OD3112: { name: "pipefusion-stages", severity: "error", summary: "PipeFusion cannot have more stages than the model has blocks." },
  OD3113: { name: "padding-waste", severity: "warning", summary: "An uneven split is padded; the padded share is computed and thrown away." },
  OD3114: { name: "dp-inputs", severity: "error", summary: "Data parallel groups take equal shares of the inputs: the prompts (or labels) must divide by the dp degree; an embeddings file is one sample." },
  OD3116: { name: "pipefusion-combination", severity: "error", summary: "PipeFusion combines with cfg, dp and ulysses; with ring, dsp or PAB it is not lowered." },
  OD3115: { name: "dsp-sequence-axes", severity: "error", summary: "DSP is a sequence axis of its own; it does not combine with Ulysses or Ring." },
  // OD32xx: acceleration (PAB)
  OD3201: { name: "pab-kind", severity: "error", summary: "PAB is set for an attention kind that the model does not have." },
  OD3202: { name: "pab-window-range", severity: "error", summary: "A PAB window lies outside the scheduler's timestep range." },
  OD3203: { name: "pab-window-empty", severity: "warning", summary: "No sampler step falls strictly inside this PAB window, so it never reuses anything." },
  OD3204: { name: "pab-every-one", severity: "warning", summary: "`every 1` recomputes at every step: the window has no effect." },
  OD3205: { name: "mlp-broadcast-step", severity: "error", summary: "An MLP broadcast step index is not a step of the schedule." },
  OD3206: { name: "mlp-broadcast-block", severity: "error", summary: "An MLP broadcast block index does not exist in the model." },
  OD3207: { name: "mlp-broadcast-range", severity: "error", summary: "An MLP broadcast reuses its output past the last step." },
  // OD33xx: model, size, conditioning, outputs
  OD3301: { name: "unknown-variant", severity: "error", summary: "The model family has no variant of this name." },
  OD3302: { name: "variant-or-hyper", severity: "error", summary: "A model names either a `variant` or explicit `hyper`parameters, not both and not neither." },
  OD3303: { name: "hyper-consistency", severity: "error", summary: "Explicit hyperparameters must be consistent (hidden size divisible by heads, and so on)." },
  OD3304: { name: "size-kind", severity: "error", summary: "Video models take a `video` size, image models an `image` size." },
  OD3305: { name: "resolution-divisor", severity: "error", summary: "Height and width must divide by the family's pixel divisor (VAE factor x patch size)." },
  OD3306: { name: "frame-count", severity: "error", summary: "The frame count does not fit the family's temporal rules." },
  OD3307: { name: "conditioning-kind", severity: "error", summary: "The conditioning does not match the family (text prompts, class labels or none)." },
  OD3308: { name: "class-label-range", severity: "error", summary: "A class label is outside the model's classes." },
  OD3309: { name: "text-encoder", severity: "error", summary: "The text encoder does not produce what the family's cross-attention reads." },
  OD3310: { name: "vae-family", severity: "error", summary: "The VAE does not match the family's latent space." },
  OD3311: { name: "output-formats", severity: "error", summary: "An output format does not fit the pipeline (images vs video, or no VAE to decode)." },
  OD3312: { name: "dtype-backend", severity: "warning", summary: "The CPU backend computes in fp32 whatever dtype is named." },
  OD3313: { name: "untrained-resolution", severity: "warning", summary: "The named checkpoint was trained at other sizes; results may be poor." },
  OD3314: { name: "vae-no-decoder", severity: "error", summary: "Pixels are asked for, but the VAE has no decoder opendit lowers (Open-Sora 1.2's VAE, CausalVAE): such pipelines write latents only." },
  OD3315: { name: "vae-tiling", severity: "error", summary: "VAE tiles and their overlap are multiples of 8 pixels, the overlap smaller than the tile, the tile no larger than the image." },
  OD3316: { name: "vae-patch-split", severity: "error", summary: "A patch-split VAE decode divides each frame's latent rows evenly over the ranks holding the same samples, without tiling or PipeFusion." },
  OD3317: { name: "preview-every-steps", severity: "warning", summary: "`output.preview_every` is more than the sampler's steps, so no preview is written during the run." },
  OD3318: { name: "preview-vae", severity: "error", summary: "Previews during the run (`output.preview_every`) need a VAE whose latents have a linear preview: sd-vae-ft-ema, sd-vae-ft-mse or CausalVAE." },
  OD3319: { name: "pictures-from-preview", severity: "warning", summary: "Picture formats with `vae: none` write the linear latent preview of the final latents, not a VAE decode." },
  // OD34xx: scheduler
  OD3401: { name: "scheduler-knob", severity: "error", summary: "A scheduler setting does not apply to this scheduler kind." },
  OD3402: { name: "scheduler-family", severity: "error", summary: "The scheduler does not match how the family was trained (noise prediction vs flow)." },
  OD3403: { name: "guidance-uncond", severity: "error", summary: "Guidance above 1 needs an unconditional branch the model has." },
  OD3405: { name: "rflow-frames", severity: "error", summary: "Open-Sora 1.2's rectified-flow timestep transform needs 1 frame or at least 17." },
  OD3404: { name: "scheduler-settings", severity: "error", summary: "The scheduler's settings cannot be lowered to a step table (too many steps, an unsupported order, a degenerate schedule)." },
  // OD35xx: resources
  OD3501: { name: "checkpoint-missing", severity: "warning", summary: "The checkpoint file does not exist (a warning in validate, an error in run)." },
  OD3502: { name: "memory-exceeds-gpu", severity: "error", summary: "The estimated memory per rank exceeds the named GPU's memory." },
  OD3503: { name: "memory-near-limit", severity: "warning", summary: "The estimated memory per rank is above 90% of the named GPU's memory." },
  OD3504: { name: "input-file-missing", severity: "warning", summary: "An input file (text embeddings, initial noise, VAE weights) does not exist." },
  OD3505: { name: "devices-count", severity: "error", summary: "The listed devices do not match the ranks that run on this node." },
  OD3506: { name: "vae-checkpoint-unset", severity: "warning", summary: "The VAE decode needs weights, but `vae.checkpoint` names none (a warning in validate, an error in run)." },
  // OD90xx: tool
  OD9001: { name: "internal-error", severity: "error", summary: "opendit failed internally; this is a bug, please report it." },
  OD9002: { name: "unreadable-file", severity: "error", summary: "The file could not be read." },
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof catalog;

export const codes: Readonly<Record<Code, CodeInfo>> = catalog;

export function codeInfo(code: Code): CodeInfo {
  return catalog[code];
}

export function allCodes(): Code[] {
  return Object.keys(catalog) as Code[];
}
