/**
 * The Plan's published JSON Schema (draft-07, schema/plan-v1.schema.json, `opendit schema --plan`): one TypeBox
 * definition of every field of types.ts and every op of ops.ts, so a runtime in another language, a viewer or
 * a test can check a plan file without the compiler. Ops are a union of closed objects told apart by their
 * `op` constant, so an unknown op, a missing field or a stray one fails.
 *
 * The TypeScript types stay the source of truth; the checks at the bottom of this file fail the build when
 * this schema and those types drift apart in either direction.
 */
import { Type, type Static, type TSchema, type TUnsafe } from "@sinclair/typebox";
import { AXES, type Axis } from "../../grammar/expr/types.js";
import { FAMILIES } from "../spec/schema.js";
import type { Op } from "./ops.js";
import { PLAN_FORMAT, PLAN_VERSION, type Plan } from "./types.js";

/** A string enum written as JSON Schema `enum` (one error listing the allowed names). */
function StringEnum<const T extends readonly string[]>(values: T, description: string): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], description });
}

/** A closed object: every field of its TypeScript interface, nothing else. */
function Closed<P extends Record<string, TSchema>>(properties: P, description: string) {
  return Type.Object(properties, { additionalProperties: false, description });
}

/** An integer enum (`order: 1 | 2`, `cfgRank: 0 | 1`). */
function IntegerEnum<const T extends readonly number[]>(values: T, description: string): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: "integer", enum: [...values], description });
}

const Count = (description: string) => Type.Integer({ minimum: 1, description });
const Index = (description: string) => Type.Integer({ minimum: 0, description });
const Name = (description: string) => Type.String({ minLength: 1, description });
const Real = (description: string) => Type.Number({ description });

const GROUP_AXES = [...AXES, "sequence", "decode"] as const;
/** What a Shard splits over: a mesh axis or the sequence group (the decode group splits plan.decode only). */
const SHARD_AXES = [...AXES, "sequence"] as const;
const ATTENTION_KINDS = ["spatial", "temporal", "cross"] as const;
const BLOCK_KINDS = ["spatial", "temporal"] as const;
const PLAN_DTYPES = ["f32", "bf16", "f16", "i32"] as const;
const BUFFER_ROLES = ["input", "table", "state", "cache", "activation", "output"] as const;
const SOLVERS = ["ddpm", "ddim", "dpmpp2m", "flow-euler"] as const;
const INPUT_SOURCES = ["noise", "text", "text-mask", "null-text", "labels", "null-labels", "timestep"] as const;

const GroupAxis = StringEnum(GROUP_AXES, "A mesh axis, `sequence` (the Ulysses x Ring block of USP), or `decode` (the ranks splitting the VAE decode).");
const DecodeGroupRef = Closed({ axis: Type.Literal("decode", { description: "The decode group (mesh.groups.decode)." }) }, "The decode group of the patch split.");
const Dims4 = Type.Tuple([Count("dim 0"), Count("dim 1"), Count("dim 2"), Count("dim 3")], { description: "A 4-D view of the buffer." });
const Axes4 = Type.Tuple([Index("axis 0"), Index("axis 1"), Index("axis 2"), Index("axis 3")], { description: "Out axis i takes input axis perm[i]." });

const Shard = Closed(
  {
    axis: StringEnum(SHARD_AXES, "The mesh axis (or `sequence` group) the dimension is split over."),
    parts: Count("Equal parts; a rank takes the part of its coordinate on the axis."),
  },
  "A part of a dimension that depends on the rank.",
);

const ModRef = Closed(
  { buffer: Name("A modulation buffer [samples, chunks, width]."), chunk: Index("The chunk (shift, scale or gate row).") },
  "One chunk of a modulation buffer.",
);

const Latent3 = Closed({ frames: Count("Latent frames."), height: Count("Latent height."), width: Count("Latent width.") }, "Latent size.");
const Patch3 = Closed({ t: Count("Temporal patch."), h: Count("Patch height."), w: Count("Patch width.") }, "Patch size.");
const Grid3 = Closed({ frames: Count("Token frames."), rows: Count("Token rows."), cols: Count("Token columns.") }, "Token grid.");
const PaddedTokens = Closed(
  { frames: Count("Frames of each sample, padding included."), tokens: Count("Positions of each frame, padding included.") },
  "The padded token layout of an uneven split: the grid's tokens first in each dimension, padding after.",
);
const RmsNorm = Closed({ weight: Name("Per-head RMSNorm weight [headDim]."), eps: Real("Epsilon.") }, "Per-head RMSNorm of q or k.");

/** Fields every op has (OpBase in ops.ts). */
const opBase = {
  id: Index("Position in its program (0-based)."),
  block: Type.Optional(Index("The block the op belongs to.")),
  blockKind: Type.Optional(StringEnum(BLOCK_KINDS, "Spatial or temporal block.")),
  pab: Type.Optional(StringEnum(ATTENTION_KINDS, "The attention kind whose broadcast skips this op on reuse steps.")),
  mlp: Type.Optional(Type.Boolean({ description: "MLP broadcast: skipped on steps that reuse this block's kept MLP output." })),
  stage: Type.Optional(Index("PipeFusion: only ranks of this pipeline stage run the op.")),
  phase: Type.Optional(StringEnum(["warmup", "pipelined"] as const, "PipeFusion: only steps of this phase run the op.")),
  latentRing: Type.Optional(Type.Boolean({ description: "PipeFusion's latent ring: runs only on steps whose pattern has latentIn (recv) or latentOut (send)." })),
};

const RowBand = Closed({ index: Index("The band."), count: Count("Equal bands of whole token rows.") }, "PipeFusion: a row band of the token grid.");
const ViewSlice = Closed(
  { dim: Index("Axis of the 4-D view."), first: Index("First index."), count: Count("Extent.") },
  "A slice of a 4-D view along one axis.",
);

function OpSchema<const N extends string, P extends Record<string, TSchema>>(op: N, properties: P, description: string) {
  return Closed({ op: Type.Literal(op), ...opBase, ...properties }, description);
}

const ops = [
  OpSchema(
    "timestep_embed",
    { t: Name("Per-sample timestep."), out: Name("[samples, dim]."), samples: Count("Samples."), dim: Count("Embedding width."), maxPeriod: Real("Max period.") },
    "Sinusoidal timestep embedding.",
  ),
  OpSchema(
    "linear",
    {
      x: Name("[rows, inFeatures]."),
      weight: Name("Weight [outFeatures, inFeatures]."),
      bias: Type.Optional(Name("Bias [outFeatures].")),
      out: Name("[rows, outFeatures]."),
      rows: Count("Rows."),
      inFeatures: Count("Input features."),
      outFeatures: Count("Output features."),
      activation: StringEnum(["none", "gelu_tanh", "silu"] as const, "Fused activation."),
      outColumns: Type.Optional(
        Closed(
          { offset: Index("First column written."), stride: Count("Width of out's rows.") },
          "Writes columns [offset, offset + outFeatures) of `out` rows `stride` wide (separate q, k, v into packed qkv).",
        ),
      ),
      padColumns: Type.Optional(
        Closed(
          { chunks: Count("Equal runs of real heads in the result (3 for packed qkv)."), width: Count("Columns each run is widened to.") },
          "Ulysses head padding: each run written at the start of `width` columns, zeros (the zero heads) after.",
        ),
      ),
      inColumns: Type.Optional(
        Closed(
          { offset: Index("First column read."), stride: Count("Width of x's rows.") },
          "Reads columns [offset, offset + inFeatures) of `x` rows `stride` wide (the real heads among padded ones).",
        ),
      ),
    },
    "y = act(x · Wᵀ + b).",
  ),
  OpSchema("silu", { x: Name("Input."), out: Name("Output."), count: Count("Values.") }, "Elementwise SiLU."),
  OpSchema("add", { a: Name("Left."), b: Name("Right."), out: Name("Output (may be a)."), count: Count("Values.") }, "out = a + b."),
  OpSchema(
    "embedding",
    { table: Name("Table [rows, width]."), ids: Name("Integer ids."), out: Name("[count, width]."), count: Count("Ids."), width: Count("Row width.") },
    "Rows of a table picked by integer ids.",
  ),
  OpSchema(
    "patch_embed",
    {
      x: Name("Latent [inputSamples, channels, T, H, W]."),
      inputSamples: Count("Samples in x."),
      weight: Name("Patch projection weight."),
      bias: Name("Patch projection bias."),
      out: Name("Tokens [samples · local tokens, hidden]."),
      samples: Count("Batch samples."),
      channels: Count("Latent channels."),
      latent: Latent3,
      patch: Patch3,
      grid: Grid3,
      shard: Type.Optional(
        Closed(
          {
            axis: StringEnum(SHARD_AXES, "The axis the tokens are split over."),
            parts: Count("Equal parts."),
            dim: StringEnum(["frames", "tokens"] as const, "Frames (DSP) or the positions of every frame (Ulysses/Ring)."),
          },
          "The rank's part of the tokens.",
        ),
      ),
      band: Type.Optional(RowBand),
      padded: Type.Optional(PaddedTokens),
      hidden: Count("Hidden size."),
    },
    "Patch embedding as a GEMM; padding positions are zero rows.",
  ),
  OpSchema(
    "sincos_2d",
    {
      out: Name("[rows · cols (/ parts), width]."),
      rows: Count("Grid rows."),
      cols: Count("Grid columns."),
      rowScale: Real("Row coordinate scale."),
      colScale: Real("Column coordinate scale."),
      width: Count("Table width."),
      shard: Type.Optional(Shard),
      band: Type.Optional(RowBand),
      padded: Type.Optional(Count("Positions padded to this count; padding rows are zeros.")),
    },
    "A fixed 2-D sin-cos table.",
  ),
  OpSchema(
    "sincos_1d",
    {
      out: Name("[count (/ parts), width]."),
      count: Count("Positions."),
      first: Real("First position."),
      scale: Real("Position scale."),
      width: Count("Table width."),
      shard: Type.Optional(Shard),
    },
    "A fixed 1-D sin-cos table.",
  ),
  OpSchema(
    "constant",
    { out: Name("[count]."), values: Type.Array(Real("A value."), { minItems: 1, description: "Repeated to fill count." }), count: Count("Values written.") },
    "out[i] = values[i mod values.length].",
  ),
  OpSchema(
    "concat",
    {
      parts: Type.Array(Name("A part [rows, width]."), { minItems: 1, description: "Matrices joined along the feature axis." }),
      widths: Type.Array(Count("Width of a part."), { minItems: 1, description: "Width of each part." }),
      out: Name("[rows, sum of widths]."),
      rows: Count("Rows."),
    },
    "Joins matrices along the feature axis.",
  ),
  OpSchema(
    "add_rows",
    {
      x: Name("[rows, width]."),
      table: Name("[period, width]."),
      out: Name("[rows, width]."),
      rows: Count("Rows."),
      width: Count("Width."),
      period: Count("Table rows."),
      repeat: Count("Consecutive rows per table row."),
    },
    "out[r] = x[r] + table[(r / repeat) mod period].",
  ),
  OpSchema(
    "modulation",
    {
      table: Type.Optional(Name("Table [chunks, width].")),
      source: Name("[samples, sourceChunks, width]."),
      out: Name("[samples, chunks, width]."),
      samples: Count("Samples."),
      chunks: Count("Chunks."),
      sourceChunks: Count("Chunks of the source (chunks or 1)."),
      width: Count("Width."),
    },
    "Modulation rows: table + source.",
  ),
  OpSchema(
    "layernorm_modulate",
    {
      x: Name("[rows, width]."),
      out: Name("[rows, width]."),
      rows: Count("Rows."),
      width: Count("Width."),
      eps: Real("Epsilon."),
      rowsPerSample: Count("Consecutive rows of one sample."),
      shift: Type.Optional(ModRef),
      scale: Type.Optional(ModRef),
    },
    "LayerNorm without affine, then adaLN modulation.",
  ),
  OpSchema(
    "gate",
    { x: Name("[rows, width]."), gate: ModRef, out: Name("[rows, width]."), rows: Count("Rows."), width: Count("Width."), rowsPerSample: Count("Rows of one sample.") },
    "out = gate[s] · x.",
  ),
  OpSchema("permute", { x: Name("Input."), out: Name("Output."), dims: Dims4, perm: Axes4 }, "A copy that permutes the axes of a 4-D view."),
  OpSchema(
    "self_attention",
    {
      qkv: Name("[batch · seq, 3 · heads · headDim]."),
      out: Name("[batch · seq, heads · headDim]."),
      batch: Count("Sequences."),
      seq: Count("Tokens per sequence (local)."),
      heads: Count("Heads (local)."),
      headDim: Count("Head size."),
      scale: Real("Softmax scale."),
      qNorm: Type.Optional(RmsNorm),
      kNorm: Type.Optional(RmsNorm),
      rope: Type.Optional(Closed({ theta: Real("Rotary base.") }, "Rotary embedding of q and k.")),
      ring: Type.Optional(GroupAxis),
      kvCache: Type.Optional(
        Closed(
          { buffer: Name("K/V buffer [batch · keys, 2 · heads · headDim]."), keys: Count("Keys per sequence in the buffer."), offset: Index("Row of this op's first token in each sequence.") },
          "PipeFusion: K/V written into and attended from a buffer that outlives the step.",
        ),
      ),
      validKeys: Type.Optional(Count("Padded splits: only the first validKeys keys of each whole sequence get weight.")),
    },
    "Softmax self-attention from packed qkv; ring attention over `ring` when present.",
  ),
  OpSchema(
    "cross_attention",
    {
      q: Name("[samples · queries, heads · headDim]."),
      kv: Name("[samples · keys, 2 · heads · headDim]."),
      mask: Type.Optional(Name("Key mask [samples, keys] (i32); absent: every key is valid.")),
      out: Name("[samples · queries, heads · headDim]."),
      samples: Count("Samples."),
      queries: Count("Query rows per sample."),
      keys: Count("Text tokens per sample."),
      heads: Count("Heads."),
      headDim: Count("Head size."),
      scale: Real("Softmax scale."),
    },
    "Cross-attention of each sample's rows to its text tokens.",
  ),
  OpSchema(
    "unpatchify",
    {
      x: Name("Tokens [samples, tokens, pt·ph·pw·C]."),
      out: Name("Latent [samples, C, T, H, W]."),
      samples: Count("Samples."),
      channels: Count("Output channels."),
      grid: Grid3,
      patch: Patch3,
      latent: Latent3,
      band: Type.Optional(RowBand),
      padded: Type.Optional(PaddedTokens),
    },
    "Tokens back to a latent; padding rows are skipped.",
  ),
  OpSchema(
    "all_to_all",
    { axis: GroupAxis, x: Name("Input."), out: Name("Output."), dims: Dims4, scatter: Index("Dimension split over the group."), gather: Index("Dimension the parts are concatenated along.") },
    "All-to-all over a mesh axis on a 4-D view.",
  ),
  OpSchema(
    "all_gather",
    { axis: GroupAxis, x: Name("Input."), out: Name("Output."), dims: Dims4, dim: Index("Dimension the parts are concatenated along.") },
    "All-gather over a mesh axis on a 4-D view.",
  ),
  OpSchema(
    "guidance",
    {
      x: Name("Model output [2 · samples, channels, plane]."),
      out: Name("[samples, predictionChannels (·2 with variance cond), plane]."),
      samples: Count("Samples."),
      plane: Count("Values per channel per sample."),
      channels: Count("Model output channels."),
      predictionChannels: Count("Prediction channels."),
      mixed: Index("Channels the guidance mixes."),
      variance: StringEnum(["drop", "cond"] as const, "Whether the learned-variance half is kept from the conditional half."),
      scale: Real("Guidance scale."),
    },
    "Classifier-free guidance.",
  ),
  OpSchema(
    "solver_update",
    {
      solver: StringEnum(SOLVERS, "The solver family."),
      latent: Name("Latent, updated in place."),
      prediction: Name("[samples, stride, plane]."),
      learnedVariance: Type.Boolean({ description: "Whether the prediction carries learned-range variance values." }),
      history: Type.Optional(Name("DPM-Solver++ 2M: the previous data prediction.")),
      samples: Count("Samples."),
      channels: Count("Latent channels."),
      stride: Count("Prediction channels per sample."),
      plane: Count("Values per channel per sample."),
      noiseSeed: Index("Seed of ancestral noise."),
      band: Type.Optional(
        Closed(
          { first: Index("First latent row."), count: Count("Latent rows."), height: Count("Latent height."), width: Count("Latent width.") },
          "PipeFusion: only these latent rows are updated.",
        ),
      ),
    },
    "The sampler update of the latent.",
  ),
  OpSchema(
    "send",
    { axis: GroupAxis, peer: StringEnum(["next", "prev"] as const, "The neighbour in ring order."), x: Name("Sent buffer."), dims: Dims4, slice: Type.Optional(ViewSlice) },
    "Asynchronous point-to-point send to a neighbour on an axis.",
  ),
  OpSchema(
    "recv",
    { axis: GroupAxis, peer: StringEnum(["next", "prev"] as const, "The neighbour in ring order."), out: Name("Received buffer."), dims: Dims4, slice: Type.Optional(ViewSlice) },
    "Pre-posted point-to-point receive from a neighbour on an axis.",
  ),
  OpSchema(
    "conv2d",
    {
      x: Name("Input [frames, height, width, inChannels] (NHWC)."),
      weight: Name("Weight [outChannels, inChannels, kernel, kernel]."),
      bias: Type.Optional(Name("Bias [outChannels].")),
      out: Name("Output [frames, height, width, outChannels]."),
      frames: Count("Frames."),
      height: Count("Rows (this rank's band with halo)."),
      width: Count("Columns."),
      inChannels: Count("Input channels."),
      outChannels: Count("Output channels."),
      kernel: IntegerEnum([1, 3] as const, "Kernel size; 3 pads with zeros at the image border."),
      halo: Type.Optional(DecodeGroupRef),
    },
    "2-D convolution, stride 1, NHWC; with `halo` one row is exchanged with each neighbour of the decode group first.",
  ),
  OpSchema(
    "group_norm",
    {
      x: Name("Input [frames, height, width, channels]."),
      weight: Name("Affine weight [channels]."),
      bias: Name("Affine bias [channels]."),
      out: Name("Output, the shape of x."),
      frames: Count("Frames."),
      height: Count("Rows (this rank's band with reduce)."),
      width: Count("Columns."),
      channels: Count("Channels."),
      groups: Count("Groups of channels."),
      eps: Real("Epsilon."),
      silu: Type.Boolean({ description: "SiLU after the affine." }),
      reduce: Type.Optional(DecodeGroupRef),
    },
    "GroupNorm per (frame, group); with `reduce` the statistics cover every member's rows, summed exactly in global row order.",
  ),
  OpSchema(
    "upsample_nearest",
    {
      x: Name("Input [frames, height, width, channels]."),
      out: Name("Output [frames, factor·height, factor·width, channels]."),
      frames: Count("Frames."),
      height: Count("Input rows."),
      width: Count("Input columns."),
      channels: Count("Channels."),
      factor: Count("Upsampling factor each way."),
    },
    "Nearest-neighbour upsampling.",
  ),
] as const;

export const OpJsonSchema = Type.Union([...ops], { description: "One op of a rank's program; `op` names its kind." });

/** Both programs point at one definition of the op union (it is most of the schema). */
const OpRef = Type.Unsafe<Static<typeof OpJsonSchema>>({ $ref: "#/definitions/Op" });

const StepBase = { index: Index("Position in sampling order."), timestep: Real("What the model's timestep embedder is fed.") };
const DdpmStep = Closed(
  {
    ...StepBase,
    sqrt_recip_alphas_cumprod: Real("1/√ᾱ."),
    sqrt_recipm1_alphas_cumprod: Real("√(1/ᾱ − 1)."),
    posterior_mean_coef1: Real("Posterior mean coefficient of x0."),
    posterior_mean_coef2: Real("Posterior mean coefficient of x."),
    log_beta: Real("log β' (maximum log variance)."),
    posterior_log_variance_clipped: Real("Minimum log variance."),
    add_noise: Type.Boolean({ description: "False on the last step." }),
  },
  "IDDPM ancestral step.",
);
const DdimStep = Closed(
  {
    ...StepBase,
    alpha_cumprod: Real("ᾱ_t."),
    alpha_cumprod_prev: Real("ᾱ of the next step."),
    sigma: Real("σ_t(η)."),
    sqrt_recip_alphas_cumprod: Real("1/√ᾱ_t."),
    sqrt_recipm1_alphas_cumprod: Real("√(1/ᾱ_t − 1)."),
    sqrt_alpha_cumprod_prev: Real("√ᾱ_prev."),
    direction_coef: Real("√(1 − ᾱ_prev − σ²)."),
    add_noise: Type.Boolean({ description: "Whether σ > 0." }),
  },
  "DDIM step.",
);
const DpmStep = Closed(
  {
    ...StepBase,
    t: Real("Continuous time."),
    t_next: Real("Continuous time of the next step."),
    order: IntegerEnum([1, 2] as const, "Solver order of this step."),
    alpha: Real("α_t."),
    sigma: Real("σ_t."),
    lambda: Real("λ_t."),
    alpha_next: Real("α of the next step."),
    sigma_next: Real("σ of the next step."),
    lambda_next: Real("λ of the next step."),
    h: Real("λ_next − λ."),
    h_prev: Type.Union([Real("The previous h."), Type.Null()], { description: "The previous step's h; null at order 1." }),
    r0: Type.Union([Real("h_prev / h."), Type.Null()], { description: "h_prev / h; null at order 1." }),
    phi_1: Real("expm1(−h)."),
    x_coef: Real("Coefficient of x."),
    data_coef: Real("Coefficient of the data prediction."),
    d1_coef: Real("Weight of D1."),
  },
  "DPM-Solver++ 2M step.",
);
const FlowStep = Closed(
  { ...StepBase, sigma: Real("Noise level."), sigma_next: Real("Noise level after the step."), dt: Real("sigma − sigma_next.") },
  "Rectified-flow Euler step.",
);

const Hyper = Closed(
  {
    hidden: Count("Hidden size D."),
    depth: Count("Blocks of each kind."),
    heads: Count("Attention heads."),
    headDim: Count("Head size."),
    patch: Count("Spatial patch."),
    patchT: Count("Temporal patch."),
    inChannels: Count("Latent channels."),
    outChannels: Count("Model output channels."),
    mlpHidden: Count("MLP hidden size."),
    captionChannels: Index("Text feature channels (0 without text)."),
    textTokens: Index("Text tokens (0 without text)."),
    numClasses: Index("Classes without the null class."),
    sizeEmbedders: Type.Boolean({ description: "PixArt-MS size embedders." }),
  },
  "Resolved hyperparameters.",
);

const axisRecord = <S extends TSchema>(keys: readonly string[], value: () => S) => Object.fromEntries(keys.map((k) => [k, value()])) as Record<string, S>;

const Coords = Type.Unsafe<Readonly<Record<Axis, number>>>(
  Closed(
    axisRecord(AXES, () => Index("Coordinate on the axis.")),
    "Coordinate on every axis.",
  ),
);
const Groups = Type.Unsafe<Plan["mesh"]["groups"]>(
  Closed(
    axisRecord(GROUP_AXES, () => Type.Optional(Type.Array(Type.Array(Index("A rank."), { minItems: 1 }), { minItems: 1 }))),
    "The communicator groups of each axis above degree 1 (plus `sequence` under USP), each in ascending rank order.",
  ),
);
const IntraNode = Type.Unsafe<Plan["mesh"]["intraNode"]>(
  Closed(
    axisRecord(GROUP_AXES, () => Type.Optional(Type.Boolean())),
    "Per group key: whether every group lies on one node.",
  ),
);

const Mesh = Closed(
  {
    world: Count("Number of ranks."),
    ranksPerNode: Count("Ranks on each node."),
    nodes: Count("Nodes."),
    axes: Type.Array(
      Closed({ name: StringEnum(AXES, "Axis."), degree: Count("Degree."), stride: Count("Rank distance between neighbouring coordinates.") }, "A mesh axis."),
      { description: "All six axes, innermost first." },
    ),
    ranks: Type.Array(
      Closed({ rank: Index("Global rank."), coords: Coords, node: Index("Node."), localRank: Index("Index on its node.") }, "One rank."),
      { minItems: 1, description: "Indexed by global rank." },
    ),
    groups: Groups,
    intraNode: IntraNode,
  },
  "The device mesh and its groups.",
);

const Buffer = Closed(
  {
    name: Name("Buffer name."),
    shape: Type.Array(Count("Extent."), { description: "Local shape on one rank." }),
    dtype: StringEnum(PLAN_DTYPES, "Element type."),
    role: StringEnum(BUFFER_ROLES, "What the buffer is for, which decides its lifetime."),
    offset: Index("Byte offset in the rank's arena."),
    bytes: Index("Size in bytes."),
    live: Type.Optional(Type.Tuple([Index("First write."), Index("Last read.")], { description: "Step-program op ids of the first write and last read (activations)." })),
    stages: Type.Optional(Type.Array(Index("A pipeline stage."), { description: "PipeFusion: the only stages that use it (all when absent)." })),
  },
  "One arena buffer.",
);

const Weight = Closed(
  {
    name: Name("Checkpoint key."),
    shape: Type.Array(Count("Extent."), { description: "Shape in the checkpoint." }),
    dtype: StringEnum(PLAN_DTYPES, "Storage type on the runtime."),
    stages: Type.Optional(Type.Array(Index("A pipeline stage."), { description: "Pipeline stages that read it (all when absent)." })),
    aliases: Type.Optional(
      Type.Array(Name("Another official name."), { minItems: 1, description: "Other official names of the tensor (a shape may differ only by trailing 1s)." }),
    ),
  },
  "One checkpoint tensor the plan reads.",
);

const Input = Closed(
  {
    buffer: Name("The buffer it fills."),
    rows: Closed({ first: Index("First sample row."), count: Count("Sample rows.") }, "Sample rows of the buffer this entry fills."),
    cfgRank: Type.Optional(IntegerEnum([0, 1] as const, "Only ranks with this cfg coordinate fill it.")),
    source: StringEnum(INPUT_SOURCES, "Where the runtime takes it from."),
    samplesShard: Type.Optional(Shard),
  },
  "One input the runtime writes.",
);

const Pattern = Closed(
  {
    id: Index("Pattern id."),
    reuse: Type.Array(Type.String(), { description: "Attention kinds reused." }),
    mlpReuse: Type.Array(Type.String(), { description: "Blocks whose MLP output is reused, as `spatial:3`." }),
    mlpKeep: Type.Array(Type.String(), { description: "Blocks whose MLP output is computed and kept." }),
    steps: Index("Steps running this pattern."),
    phase: Type.Optional(StringEnum(["warmup", "pipelined"] as const, "PipeFusion: the phase of its steps.")),
    latentIn: Type.Optional(Type.Boolean({ description: "PipeFusion: stage 0 receives the latent rows sent at the end of the previous step." })),
    latentOut: Type.Optional(Type.Boolean({ description: "PipeFusion: the last stage sends the updated latent rows to stage 0." })),
  },
  "A compute/reuse pattern.",
);

const NonNegative = (description: string) => Type.Number({ minimum: 0, description });

const Padding = Closed(
  {
    dim: StringEnum(["frames", "tokens", "heads"] as const, "Token frames, tokens per frame, or attention heads."),
    from: Count("The model's size."),
    to: Count("The size the ops run with: from rounded up to a multiple of parts."),
    parts: Count("Ranks the dimension splits over."),
    wasted: Type.Number({ minimum: 0, exclusiveMaximum: 1, description: "(to − from) / to: the share computed and thrown away." }),
  },
  "One dimension padded so that its split is even.",
);

const Cost = Closed(
  {
    gpu: Name("The GPU profile estimated for."),
    flopsPerStep: NonNegative("FLOPs of one step when every op computes."),
    perPattern: Type.Array(
      Closed(
        {
          id: Index("Pattern id."),
          flops: NonNegative("FLOPs of one step of the pattern."),
          bytes: NonNegative("Device-memory bytes read and written."),
          commBytes: NonNegative("Bytes sent to other ranks."),
          seconds: NonNegative("Estimated seconds, ops summed without overlap."),
        },
        "One step of a pattern on one rank.",
      ),
      { description: "Per pattern." },
    ),
    setupSeconds: NonNegative("The setup program, run once."),
    totalSeconds: NonNegative("Setup plus every step."),
    peakBytesPerRank: NonNegative("Weights the rank holds plus its arena."),
  },
  "The time and memory estimate of the plan on one rank.",
);

const DECODE_DTYPES = ["f32", "bf16", "f16"] as const;

const DecodeSplit = Type.Union(
  [
    Closed({ kind: Type.Literal("whole") }, "One rank decodes whole frames."),
    Closed(
      {
        kind: Type.Literal("tiled"),
        tile: Closed({ height: Count("Tile rows (latent pixels)."), width: Count("Tile columns (latent pixels).") }, "Tile size."),
        overlap: Index("Latent pixels neighbouring tiles share at least."),
        rows: Type.Array(Index("A tile's first latent row."), { minItems: 1, description: "Tile row starts; the last aligned to the edge." }),
        cols: Type.Array(Index("A tile's first latent column."), { minItems: 1, description: "Tile column starts; the last aligned to the edge." }),
      },
      "One rank decodes overlapping tiles, blended with linear ramps.",
    ),
    Closed(
      { kind: Type.Literal("patch"), axis: Type.Literal("decode", { description: "The decode group." }), parts: Count("Members, each holding height/parts latent rows.") },
      "The latent rows split evenly over the decode group.",
    ),
  ],
  { description: "How the decode work is split." },
);

const Decode = Closed(
  {
    vae: StringEnum(["sd-vae-ft-ema", "sd-vae-ft-mse", "sdxl-vae"] as const, "The VAE."),
    checkpoint: Type.String({ description: "The VAE weights as the Spec names them, `random`, or empty when it names none." }),
    weightsSeed: Index("Seed of random VAE weights."),
    dtype: StringEnum(DECODE_DTYPES, "Storage type of decode weights and activations."),
    scale: Real("The decoder's input is latent / scale."),
    latent: Closed({ channels: Count("Channels."), frames: Count("Frames."), height: Count("Height."), width: Count("Width.") }, "One sample's final latent."),
    image: Closed({ height: Count("Pixel height."), width: Count("Pixel width.") }, "Decoded frame size."),
    samples: Count("Samples each decode group decodes."),
    framesPerPass: Count("Frames one pass decodes."),
    split: DecodeSplit,
    passes: Count("Program runs per sample."),
    ranks: Type.Array(Index("A global rank."), { minItems: 1, description: "Ranks that decode." }),
    weights: Type.Array(Weight, { description: "The decoder's tensors." }),
    buffers: Type.Array(Buffer, { description: "The decode arena's buffers." }),
    arenaBytes: Index("Bytes of the decode arena."),
    input: Name("Buffer the runtime fills with latent / scale."),
    output: Name("Buffer of decoded pixels."),
    program: Type.Array(OpRef, { description: "One pass." }),
    cost: Closed(
      {
        flopsPerPass: NonNegative("FLOPs of one pass."),
        secondsPerPass: NonNegative("Estimated seconds of one pass."),
        totalSeconds: NonNegative("Every pass of every sample."),
        peakBytesPerRank: NonNegative("Decode arena plus decoder weights."),
      },
      "The decode's estimate on one rank.",
    ),
  },
  "The VAE decode after the step loop.",
);

export const PlanSchema = Type.Object(
  {
    format: Type.Literal(PLAN_FORMAT, { description: "Always `opendit-plan`." }),
    version: Type.Literal(PLAN_VERSION, { description: "Plan format version." }),
    hash: Type.String({ pattern: "^[0-9a-f]{64}$", description: "sha256 of the canonical JSON of every other field." }),
    name: Type.String({ description: "The pipeline's name." }),
    model: Closed(
      {
        family: StringEnum(FAMILIES, "Model family."),
        title: Type.String({ description: "Family title." }),
        variant: Type.Optional(Type.String({ description: "Named variant." })),
        checkpoint: Type.String({ description: "Checkpoint path or `random`." }),
        weightsSeed: Index("Seed of random weights."),
        dtype: StringEnum(["fp32", "fp16", "bf16"] as const, "Model dtype."),
        hyper: Hyper,
      },
      "The model.",
    ),
    geometry: Closed(
      {
        frames: Count("Video frames (1 for images)."),
        height: Count("Pixel height."),
        width: Count("Pixel width."),
        latent: Closed({ channels: Count("Channels."), frames: Count("Frames."), height: Count("Height."), width: Count("Width.") }, "Latent size."),
        tokens: Grid3,
        samples: Count("Samples of the whole run."),
        batch: Count("Samples per rank in the model batch."),
      },
      "Sizes of the run.",
    ),
    mesh: Mesh,
    schedule: Closed(
      {
        kind: Type.String({ description: "Scheduler kind." }),
        solver: StringEnum(SOLVERS, "Solver family."),
        trainSteps: Count("Training timesteps."),
        guidance: Type.Union(
          [
            Closed(
              { scale: Real("Guidance scale."), mixed: Index("Mixed channels."), variance: StringEnum(["drop", "cond"] as const, "Learned variance handling.") },
              "Guidance settings.",
            ),
            Type.Null(),
          ],
          { description: "Guidance settings, null without an unconditional branch." },
        ),
      },
      "The sampler.",
    ),
    weights: Type.Array(Weight, { description: "Every checkpoint tensor the plan reads." }),
    buffers: Type.Array(Buffer, { description: "Every arena buffer of a rank." }),
    arenaBytes: Index("Bytes of each rank's arena."),
    inputs: Type.Array(Input, { description: "What the runtime writes before the step loop (and the timestep every step)." }),
    outputs: Type.Array(
      Closed({ buffer: Name("Buffer."), name: Name("Output name."), stage: Type.Optional(Index("PipeFusion: the stage holding the final value.")) }, "One output."),
      { description: "Outputs." },
    ),
    program: Closed(
      {
        setup: Type.Array(OpRef, { description: "Runs once before the step loop." }),
        step: Type.Array(OpRef, { description: "Runs once per step." }),
      },
      "The programs of one rank.",
    ),
    patterns: Type.Array(Pattern, { description: "Compute/reuse patterns." }),
    steps: Type.Array(
      Closed(
        {
          schedule: Type.Union([DdpmStep, DdimStep, DpmStep, FlowStep], { description: "Sampler coefficients of the step." }),
          pattern: Index("Pattern id."),
        },
        "One sampler step.",
      ),
      { description: "The steps, in sampling order." },
    ),
    padding: Type.Optional(Type.Array(Padding, { minItems: 1, description: "What the layout pads to split evenly; absent when every split is even." })),
    cost: Cost,
    decode: Type.Optional(Decode),
  },
  {
    additionalProperties: false,
    definitions: { Op: OpJsonSchema },
    $id: "https://opendit.dev/schema/plan-v1.schema.json",
    title: "opendit plan",
    description: "The execution plan of one pipeline: mesh, buffers, per-rank programs and step tables.",
  },
);

/** The published draft-07 schema, as plain JSON (TypeBox's symbols dropped). */
export function publishedPlanSchema(): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(PlanSchema)) as Record<string, unknown>;
  return { $schema: "http://json-schema.org/draft-07/schema#", ...plain };
}

/*
 * Drift checks, at compile time: the schema's static type and the hand-written types must be the same type up
 * to `readonly`. `Same` is the identity test (not mere assignability, which lets an extra optional field in
 * either side through).
 */
type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;
type Same<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
type Holds<T extends true> = T;

export type PlanSchemaMatchesOps = Holds<Same<DeepReadonly<Static<typeof OpJsonSchema>>, DeepReadonly<Op>>>;
export type PlanSchemaMatchesPlan = Holds<Same<DeepReadonly<Static<typeof PlanSchema>>, DeepReadonly<Plan>>>;
