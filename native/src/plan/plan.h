// The Plan as the native runtime reads it: compiler/plan/types.ts and compiler/plan/ops.ts in C++ structs, field
// for field (snake_case), parsed from the plan's JSON by parse.cpp. Every buffer or weight an op names is a
// BufRef: an index into Plan::names, so binding names to memory happens once (runtime/memory.h) and the step
// loop never looks a string up. Optional fields of the TypeScript types are std::optional here.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace od {

// A buffer or weight named by an op: index into Plan::names (-1: none).
struct BufRef {
  int id = -1;
  bool valid() const { return id >= 0; }
};

enum class DType { F32, BF16, F16, I32 };
const char* dtype_name(DType t);
int dtype_bytes(DType t);

// Shard: `parts` equal parts along a mesh axis ("dp", "cfg", "pipefusion", "ring", "ulysses", "dsp") or the
// combined "sequence" axis (dsp, ulysses, ring; innermost fastest).
struct Shard {
  std::string axis;
  int64_t parts = 1;
};
// A Shard with the dimension it splits (patch_embed: "frames" or "tokens").
struct DimShard {
  std::string axis;
  int64_t parts = 1;
  std::string dim;
};

struct ModRef {
  BufRef buffer;
  int64_t chunk = 0;
};
struct RowBand {
  int64_t index = 0;
  int64_t count = 1;
};
struct PaddedTokens {
  int64_t frames = 0;
  int64_t tokens = 0;
};
struct Grid {
  int64_t frames = 0, rows = 0, cols = 0;
};
struct LatentSize {
  int64_t frames = 0, height = 0, width = 0;
};
struct Patch {
  int64_t t = 1, h = 1, w = 1;
};
struct ColumnRange {
  int64_t offset = 0, stride = 0;
};
struct PadColumns {
  int64_t chunks = 1, width = 0;
};
struct NormRef {
  BufRef weight;
  double eps = 0;
};
struct KvCacheRef {
  BufRef buffer;
  int64_t keys = 0;
  int64_t offset = 0;
};
struct ViewSlice {
  int64_t dim = 0, first = 0, count = 0;
};
struct SolverBand {
  int64_t first = 0, count = 0, height = 0, width = 0;
};
using Dims4 = std::array<int64_t, 4>;

// ---- the op kinds (compiler/plan/ops.ts; each comment is the TypeScript interface it mirrors) ----

struct TimestepEmbedOp {  // TimestepEmbedOp
  BufRef t, out;
  int64_t samples = 0, dim = 0;
  double max_period = 10000;
};
enum class Activation { None, GeluTanh, Silu };
struct LinearOp {  // LinearOp
  BufRef x, weight, out;
  std::optional<BufRef> bias;
  int64_t rows = 0, in_features = 0, out_features = 0;
  Activation activation = Activation::None;
  std::optional<ColumnRange> out_columns;
  std::optional<PadColumns> pad_columns;
  std::optional<ColumnRange> in_columns;
};
struct SiluOp {
  BufRef x, out;
  int64_t count = 0;
};
struct AddOp {
  BufRef a, b, out;
  int64_t count = 0;
};
struct EmbeddingOp {
  BufRef table, ids, out;
  int64_t count = 0, width = 0;
};
struct PatchEmbedOp {
  BufRef x, weight, bias, out;
  int64_t input_samples = 0, samples = 0, channels = 0, hidden = 0;
  LatentSize latent;
  Patch patch;
  Grid grid;
  std::optional<DimShard> shard;
  std::optional<RowBand> band;
  std::optional<PaddedTokens> padded;
};
struct SinCos2dOp {
  BufRef out;
  int64_t rows = 0, cols = 0, width = 0;
  double row_scale = 1, col_scale = 1;
  std::optional<Shard> shard;
  std::optional<RowBand> band;
  std::optional<int64_t> padded;
};
struct SinCos1dOp {
  BufRef out;
  int64_t count = 0, width = 0;
  double first = 0, scale = 1;
  std::optional<Shard> shard;
};
struct ConstantOp {
  BufRef out;
  std::vector<double> values;
  int64_t count = 0;
};
struct ConcatOp {
  std::vector<BufRef> parts;
  std::vector<int64_t> widths;
  BufRef out;
  int64_t rows = 0;
};
struct AddRowsOp {
  BufRef x, table, out;
  int64_t rows = 0, width = 0, period = 0, repeat = 0;
};
struct ModulationOp {
  std::optional<BufRef> table;
  BufRef source, out;
  int64_t samples = 0, chunks = 0, source_chunks = 0, width = 0;
};
struct LayerNormModulateOp {
  BufRef x, out;
  int64_t rows = 0, width = 0, rows_per_sample = 0;
  double eps = 1e-6;
  std::optional<ModRef> shift, scale;
};
struct GateOp {
  BufRef x, out;
  ModRef gate;
  int64_t rows = 0, width = 0, rows_per_sample = 0;
};
struct PermuteOp {
  BufRef x, out;
  Dims4 dims{};
  Dims4 perm{};
};
struct SelfAttentionOp {
  BufRef qkv, out;
  int64_t batch = 0, seq = 0, heads = 0, head_dim = 0;
  double scale = 1;
  std::optional<NormRef> q_norm, k_norm;
  std::optional<double> rope_theta;  // rope: { theta }
  std::optional<std::string> ring;   // the ring's group axis
  std::optional<KvCacheRef> kv_cache;
  std::optional<int64_t> valid_keys;
};
struct CrossAttentionOp {
  BufRef q, kv, out;
  std::optional<BufRef> mask;  // absent: every key is valid (the VAE's mid-block attention)
  int64_t samples = 0, queries = 0, keys = 0, heads = 0, head_dim = 0;
  double scale = 1;
};
struct UnpatchifyOp {
  BufRef x, out;
  int64_t samples = 0, channels = 0;
  Grid grid;
  Patch patch;
  LatentSize latent;
  std::optional<RowBand> band;
  std::optional<PaddedTokens> padded;
};
struct AllToAllOp {
  std::string axis;
  BufRef x, out;
  Dims4 dims{};
  int64_t scatter = 0, gather = 0;
};
struct AllGatherOp {
  std::string axis;
  BufRef x, out;
  Dims4 dims{};
  int64_t dim = 0;
};
enum class Variance { Drop, Cond };
struct GuidanceOp {
  BufRef x, out;
  int64_t samples = 0, plane = 0, channels = 0, prediction_channels = 0, mixed = 0;
  Variance variance = Variance::Drop;
  double scale = 1;
};
enum class Solver { Ddpm, Ddim, Dpmpp2m, FlowEuler };
struct SolverOp {
  Solver solver = Solver::Ddpm;
  BufRef latent, prediction;
  std::optional<BufRef> history;
  bool learned_variance = false;
  int64_t samples = 0, channels = 0, stride = 0, plane = 0;
  uint64_t noise_seed = 0;
  std::optional<SolverBand> band;
};
struct SendOp {
  std::string axis, peer;  // peer: "next" | "prev"
  BufRef x;
  Dims4 dims{};
  std::optional<ViewSlice> slice;
};
struct RecvOp {
  std::string axis, peer;
  BufRef out;
  Dims4 dims{};
  std::optional<ViewSlice> slice;
};

// The VAE decoder's ops (plan.decode.program). Activations are NHWC rows [frames, height, width, channels];
// convolution weights keep the checkpoint's [Cout, Cin, kh, kw].
struct HaloRef {  // the group whose previous / next member holds the rows above / below this rank's band
  std::string axis;
};
struct Conv2dOp {  // Conv2dOp: stride 1, zero padding (kernel 3: 1) at the image border
  BufRef x, weight, out;
  std::optional<BufRef> bias;
  int64_t frames = 0, height = 0, width = 0, in_channels = 0, out_channels = 0, kernel = 3;
  std::optional<HaloRef> halo;
};
struct GroupNormOp {  // GroupNormOp: per (frame, group), affine, SiLU after when `silu`
  BufRef x, weight, bias, out;
  int64_t frames = 0, height = 0, width = 0, channels = 0, groups = 32;
  double eps = 1e-6;
  bool silu = false;
  std::optional<HaloRef> reduce;  // statistics over the whole group's bands
};
struct UpsampleNearestOp {  // UpsampleNearestOp
  BufRef x, out;
  int64_t frames = 0, height = 0, width = 0, channels = 0, factor = 2;
};

using OpBody = std::variant<TimestepEmbedOp, LinearOp, SiluOp, AddOp, EmbeddingOp, PatchEmbedOp, SinCos2dOp,
                            SinCos1dOp, ConstantOp, ConcatOp, AddRowsOp, ModulationOp, LayerNormModulateOp, GateOp,
                            PermuteOp, SelfAttentionOp, CrossAttentionOp, UnpatchifyOp, AllToAllOp, AllGatherOp,
                            GuidanceOp, SolverOp, SendOp, RecvOp, Conv2dOp, GroupNormOp, UpsampleNearestOp>;

// OpBase of ops.ts.
struct Op {
  int id = 0;
  std::string kind;  // the `op` field: "linear", "self_attention", ...
  std::optional<int64_t> block;
  std::string block_kind;  // "spatial" | "temporal" | "" (absent)
  std::string pab;         // attention kind whose broadcast skips the op ("" absent)
  bool mlp = false;
  std::optional<int64_t> stage;
  std::string phase;  // "warmup" | "pipelined" | ""
  bool latent_ring = false;
  OpBody body;
};

// "op 41 (self_attention, spatial block 3)", as runtime/reference/dispatch.ts describeOp.
std::string describe_op(const Op& op);

// ---- the plan (compiler/plan/types.ts) ----

enum class BufferRole { Input, Table, State, Cache, Activation, Output };

struct PlanBuffer {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  BufferRole role = BufferRole::Activation;
  int64_t offset = 0;  // bytes, in the plan's dtype sizes
  int64_t bytes = 0;
  // Activations: the step-program op ids of the first write and the last read.
  std::optional<std::array<int64_t, 2>> live;
  std::vector<int64_t> stages;  // empty: every stage
};

struct PlanWeight {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  std::vector<int64_t> stages;  // empty: every stage
  // Other official names of the same tensor (the VAE's original LDM names), whose shape in a file may differ from
  // `shape` only by trailing 1s ([512, 512, 1, 1] for [512, 512]).
  std::vector<std::string> aliases;
};

struct PlanInput {
  std::string buffer;
  int64_t first = 0, count = 0;  // rows
  std::optional<int> cfg_rank;
  // "noise" | "text" | "text-mask" | "null-text" | "labels" | "null-labels" | "timestep"
  std::string source;
  std::optional<Shard> samples_shard;
};

struct PlanOutput {
  std::string buffer, name;
  std::optional<int64_t> stage;
};

// One step's sampler coefficients (compiler/schedule/step-table.ts StepEntry): every numeric field by its name
// ("sqrt_recip_alphas_cumprod", "dt", ...; booleans as 0/1; null as NaN), so each solver reads what it needs.
struct StepSchedule {
  int64_t index = 0;
  double timestep = 0;
  std::map<std::string, double> values;
  // The value of a field; fails naming the step and field when the step has none.
  double get(const std::string& field) const;
};

struct PlanPattern {
  int id = 0;
  std::vector<std::string> reuse;      // attention kinds
  std::vector<std::string> mlp_reuse;  // "spatial:3"
  std::vector<std::string> mlp_keep;
  int64_t steps = 0;
  std::string phase;  // "" | "warmup" | "pipelined"
  bool latent_in = false, latent_out = false;
};

struct PlanStep {
  StepSchedule schedule;
  int pattern = 0;
};

struct MeshAxis {
  std::string name;
  int64_t degree = 1, stride = 1;
};
struct MeshRank {
  int rank = 0;
  std::map<std::string, int64_t> coords;
  int node = 0, local_rank = 0;
};
struct Mesh {
  int world = 1, ranks_per_node = 1, nodes = 1;
  std::vector<MeshAxis> axes;  // innermost first
  std::vector<MeshRank> ranks;
  std::map<std::string, std::vector<std::vector<int>>> groups;  // axis -> groups of ranks
};

// How the decode is split (compiler/plan/types.ts PlanDecode.split).
struct DecodeSplit {
  std::string kind;  // "whole" | "tiled" | "patch"
  // tiled: tile size and overlap in latent pixels; the latent-pixel starts of the tile rows and columns
  int64_t tile_height = 0, tile_width = 0, overlap = 0;
  std::vector<int64_t> rows, cols;
  // patch: latent rows split evenly over the `parts` members of the `axis` group ("decode")
  std::string axis;
  int64_t parts = 1;
};

// plan.decode: the VAE decoder run per frame after the DiT (runtime/decode.h). Its program names buffers and
// weights of its own: BufRefs of `program` index `names`, not Plan::names.
struct PlanDecode {
  std::string vae, checkpoint;  // checkpoint: as the pipeline wrote it, or "random"
  uint64_t weights_seed = 0;
  DType dtype = DType::F32;
  double scale = 0.18215;  // the decoder's input is latent / scale
  int64_t channels = 4, frames = 1, height = 0, width = 0;  // one sample's final latent
  int64_t image_height = 0, image_width = 0, samples = 1, frames_per_pass = 1, passes = 1;
  DecodeSplit split;
  std::vector<int> ranks;
  std::vector<PlanWeight> weights;
  std::vector<PlanBuffer> buffers;
  int64_t arena_bytes = 0;
  std::string input, output;
  std::vector<Op> program;
  // Every name the program's ops refer to, interned by the parser, and the op that named each first.
  std::vector<std::string> names;
  std::vector<std::string> first_use;
};

struct Plan {
  std::string hash, name;
  struct {
    std::string family, title, variant, checkpoint, dtype;
    uint64_t weights_seed = 0;
    int64_t num_classes = 0;  // hyper.numClasses (0 when absent): the null label of class-conditional models
  } model;
  struct {
    int64_t frames = 0, height = 0, width = 0, samples = 0, batch = 0;
    LatentSize latent;
    int64_t latent_channels = 0;
    Grid tokens;
  } geometry;
  Mesh mesh;
  std::string solver;  // schedule.solver
  std::vector<PlanWeight> weights;
  std::vector<PlanBuffer> buffers;
  int64_t arena_bytes = 0;
  std::vector<PlanInput> inputs;
  std::vector<PlanOutput> outputs;
  std::vector<Op> setup, step;
  std::vector<PlanPattern> patterns;
  std::vector<PlanStep> steps;
  std::optional<PlanDecode> decode;  // absent: the run ends with the latents

  // Every name an op refers to (buffers and weights), interned by the parser; BufRef::id indexes it.
  std::vector<std::string> names;
  // For each name, the first op that named it ("setup op 3 (linear)"), for messages about unknown names.
  std::vector<std::string> first_use;

  const std::string& name_of(BufRef ref) const { return names.at(static_cast<size_t>(ref.id)); }
};

// Parses a plan's JSON text (format "opendit-plan", version 1); errors name the JSON path.
Plan parse_plan(std::string_view json_text);

}  // namespace od
