// The plan parser: the plan's JSON (compiler/plan/types.ts, ops from compiler/plan/ops.ts, step entries from
// compiler/schedule/step-table.ts, the mesh from compiler/lower/mesh.ts) into the od::Plan of plan.h, field for
// field. Every buffer or weight name an op mentions is interned into Plan::names once, so the interpreter binds
// names to memory before the step loop and never looks a string up while it runs. The parser checks the shape
// of the document (types, enum values, required fields) and the few invariants the interpreter indexes by
// without checking again (op ids, pattern ids, buffer extents in the arena); it leaves the meaning of names and
// sizes to runtime/memory.h, which checks every op against the buffers it binds. Every message names the JSON
// path, so a user can find the offending field in the file.
#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/error.h"
#include "core/json.h"
#include "plan/plan.h"

namespace od {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
    case DType::I32: return "i32";
  }
  return "?";
}

int dtype_bytes(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::F16: return 2;
    case DType::I32: return 4;
  }
  return 0;
}

std::string describe_op(const Op& op) {
  std::string out = "op " + std::to_string(op.id) + " (" + op.kind;
  if (op.block) {
    out += ", ";
    if (!op.block_kind.empty()) out += op.block_kind + " ";
    out += "block " + std::to_string(*op.block);
  }
  return out + ")";
}

double StepSchedule::get(const std::string& field) const {
  auto it = values.find(field);
  if (it == values.end())
    OD_FAIL("step " + std::to_string(index) + " of the plan's step table has no \"" + field + "\"",
            "the solver op needs a coefficient its step table lacks; recompile the plan with this opendit");
  if (std::isnan(it->second))
    OD_FAIL("step " + std::to_string(index) + " of the plan's step table has \"" + field + "\" null",
            "the solver reads a coefficient that this step leaves unset (e.g. h_prev at order 1)");
  return it->second;
}

namespace {

using json::Reader;

constexpr int kPlanVersion = 1;

// A non-negative safe integer: every size, index, count and offset of a plan is one.
int64_t nat(const Reader& r) {
  int64_t v = r.integer();
  if (v < 0) r.fail("expected a non-negative integer, got " + std::to_string(v));
  return v;
}
int64_t nat(const Reader& r, const char* key) { return nat(r.at(key)); }

// A non-negative integer that fits an int (op ids, ranks, pattern ids).
int small(const Reader& r) {
  int64_t v = nat(r);
  if (v > std::numeric_limits<int>::max()) r.fail("expected an integer below 2^31, got " + std::to_string(v));
  return static_cast<int>(v);
}
int small(const Reader& r, const char* key) { return small(r.at(key)); }

std::optional<int64_t> opt_nat(const Reader& r, const char* key) {
  if (!r.has(key)) return std::nullopt;
  return nat(r, key);
}

bool opt_bool(const Reader& r, const char* key) { return r.has(key) && r.at(key).boolean(); }

std::string opt_string(const Reader& r, const char* key) { return r.has(key) ? r.at(key).string() : std::string(); }

// The index of the string value in `options`; fails listing them.
size_t pick(const Reader& r, std::initializer_list<const char*> options) {
  const std::string& s = r.string();
  size_t i = 0;
  for (const char* o : options) {
    if (s == o) return i;
    ++i;
  }
  std::string list;
  i = 0;
  for (const char* o : options) {
    if (i) list += i + 1 == options.size() ? " or " : ", ";
    list += "\"" + std::string(o) + "\"";
    ++i;
  }
  r.fail("unknown value \"" + s + "\" (expected " + list + ")");
}

// The string value, which must be one of `options`.
std::string one_of(const Reader& r, std::initializer_list<const char*> options) {
  pick(r, options);
  return r.string();
}

// An optional enum-like string: "" when absent.
std::string opt_one_of(const Reader& r, const char* key, std::initializer_list<const char*> options) {
  return r.has(key) ? one_of(r.at(key), options) : std::string();
}

Solver solver(const Reader& r) { return static_cast<Solver>(pick(r, {"ddpm", "ddim", "dpmpp2m", "flow-euler"})); }

// The members of an object, in document order.
const std::vector<std::pair<std::string, json::Value>>& members(const Reader& r) {
  if (!r.value().is_object()) r.keys();  // fails: "<path>: expected an object, got ..."
  return r.value().object;
}
Reader member(const Reader& r, const std::pair<std::string, json::Value>& m) {
  return Reader(m.second, r.path() + "." + m.first);
}

DType dtype(const Reader& r) { return static_cast<DType>(pick(r, {"f32", "bf16", "f16", "i32"})); }

std::vector<int64_t> nat_array(const Reader& r) {
  std::vector<int64_t> out(r.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = nat(r.at(i));
  return out;
}

std::vector<std::string> string_array(const Reader& r) {
  std::vector<std::string> out(r.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = r.at(i).string();
  return out;
}

Dims4 dims4(const Reader& r) {
  if (r.size() != 4) r.fail("expected 4 integers, got " + std::to_string(r.size()));
  Dims4 d{};
  for (size_t i = 0; i < 4; ++i) d[i] = nat(r.at(i));
  return d;
}

RowBand row_band(const Reader& r) { return {nat(r, "index"), nat(r, "count")}; }
PaddedTokens padded_tokens(const Reader& r) { return {nat(r, "frames"), nat(r, "tokens")}; }
Grid grid(const Reader& r) { return {nat(r, "frames"), nat(r, "rows"), nat(r, "cols")}; }
LatentSize latent_size(const Reader& r) { return {nat(r, "frames"), nat(r, "height"), nat(r, "width")}; }
Patch patch(const Reader& r) { return {nat(r, "t"), nat(r, "h"), nat(r, "w")}; }
ColumnRange column_range(const Reader& r) { return {nat(r, "offset"), nat(r, "stride")}; }
PadColumns pad_columns(const Reader& r) { return {nat(r, "chunks"), nat(r, "width")}; }
ViewSlice view_slice(const Reader& r) { return {nat(r, "dim"), nat(r, "first"), nat(r, "count")}; }
SolverBand solver_band(const Reader& r) { return {nat(r, "first"), nat(r, "count"), nat(r, "height"), nat(r, "width")}; }

// The product of a shape times an element size, or -1 when it overflows int64 (no real buffer comes close).
int64_t shape_bytes(const std::vector<int64_t>& shape, int64_t element) {
  int64_t n = element;
  for (int64_t d : shape) {
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

class PlanParser {
 public:
  explicit PlanParser(Plan& plan) : plan_(plan) {}

  void run(const Reader& root) {
    header(root);
    plan_.hash = root.at("hash").string();
    plan_.name = root.at("name").string();
    model(root.at("model"));
    geometry(root.at("geometry"));
    mesh(root.at("mesh"));  // before the ops: their axes are checked against it
    Reader solver_name = root.at("schedule").at("solver");
    (void)solver(solver_name);  // checks the name
    plan_.solver = solver_name.string();
    weights(root.at("weights"));
    plan_.arena_bytes = nat(root, "arenaBytes");
    buffers(root.at("buffers"));
    inputs(root.at("inputs"));
    outputs(root.at("outputs"));
    Reader program = root.at("program");
    plan_.setup = ops(program.at("setup"), "setup");
    plan_.step = ops(program.at("step"), "step");
    patterns(root.at("patterns"));
    steps(root.at("steps"));
    if (root.has("decode")) decode(root.at("decode"));
  }

 private:
  // Where ref() interns names: the plan's (setup and step programs) or the decode's (its program).
  struct Names {
    std::vector<std::string>* names;
    std::vector<std::string>* first_use;
    std::unordered_map<std::string, int> ids;  // name -> index in *names
  };

  Plan& plan_;
  Names plan_names_{&plan_.names, &plan_.first_use, {}};
  Names* names_ = &plan_names_;
  std::unordered_set<std::string> axes_;  // mesh axis names, "sequence" and "decode"
  std::string where_;                     // "step op 41 (linear, block 3)": the op being parsed

  // ---- header, model, geometry, mesh ----

  static void header(const Reader& root) {
    const json::Value* format = root.value().find("format");
    if (!root.value().is_object() || !format || !format->is_string() || format->string != "opendit-plan")
      OD_FAIL("this is not an opendit plan (its \"format\" is not \"opendit-plan\")",
              "pass the JSON that `opendit plan -f json` writes");
    int64_t version = root.at("version").integer();
    if (version > kPlanVersion)
      OD_FAIL("plan version " + std::to_string(version) + " is newer than this runtime reads (" +
                  std::to_string(kPlanVersion) + ")",
              "update opendit, or compile the plan with the opendit version of this runtime");
    if (version != kPlanVersion)
      OD_FAIL("plan version " + std::to_string(version) + " is not one this runtime reads (" +
                  std::to_string(kPlanVersion) + ")",
              "recompile the plan with this opendit");
  }

  void model(const Reader& r) {
    auto& m = plan_.model;
    m.family = r.at("family").string();
    m.title = r.at("title").string();
    m.variant = opt_string(r, "variant");
    m.checkpoint = r.at("checkpoint").string();
    m.weights_seed = static_cast<uint64_t>(nat(r, "weightsSeed"));
    m.dtype = one_of(r.at("dtype"), {"fp32", "fp16", "bf16"});
    m.num_classes = 0;
    if (r.has("hyper")) {
      Reader hyper = r.at("hyper");
      if (hyper.has("numClasses")) m.num_classes = nat(hyper, "numClasses");
    }
  }

  void geometry(const Reader& r) {
    auto& g = plan_.geometry;
    g.frames = nat(r, "frames");
    g.height = nat(r, "height");
    g.width = nat(r, "width");
    g.samples = nat(r, "samples");
    g.batch = nat(r, "batch");
    Reader latent = r.at("latent");
    g.latent = latent_size(latent);
    g.latent_channels = nat(latent, "channels");
    g.tokens = grid(r.at("tokens"));
  }

  void mesh(const Reader& r) {
    Mesh& m = plan_.mesh;
    m.world = small(r, "world");
    m.ranks_per_node = small(r, "ranksPerNode");
    m.nodes = small(r, "nodes");
    if (m.world < 1) r.at("world").fail("a mesh needs at least one rank");
    Reader axes = r.at("axes");
    m.axes.resize(axes.size());
    for (size_t i = 0; i < m.axes.size(); ++i) {
      Reader a = axes.at(i);
      m.axes[i] = {a.at("name").string(), nat(a, "degree"), nat(a, "stride")};
      if (!axes_.insert(m.axes[i].name).second) a.at("name").fail("axis \"" + m.axes[i].name + "\" listed twice");
    }
    axes_.insert("sequence");
    axes_.insert("decode");  // plan.mesh.groups.decode: the ranks decoding the same samples (patch split)
    // Ranks are indexed by global rank: the runtime finds its own coordinates at ranks[rank].
    Reader ranks = r.at("ranks");
    if (ranks.size() != static_cast<size_t>(m.world))
      ranks.fail("the mesh has " + std::to_string(m.world) + " ranks but lists " + std::to_string(ranks.size()));
    m.ranks.resize(ranks.size());
    for (size_t i = 0; i < m.ranks.size(); ++i) {
      Reader k = ranks.at(i);
      MeshRank& rank = m.ranks[i];
      rank.rank = small(k, "rank");
      if (rank.rank != static_cast<int>(i))
        k.at("rank").fail("rank " + std::to_string(rank.rank) + " is listed at position " + std::to_string(i));
      Reader coords = k.at("coords");
      for (const auto& c : members(coords)) rank.coords[c.first] = nat(member(coords, c));
      rank.node = small(k, "node");
      rank.local_rank = small(k, "localRank");
    }
    Reader groups = r.at("groups");
    for (const auto& entry : members(groups)) {
      Reader axis = member(groups, entry);
      if (!axes_.count(entry.first)) axis.fail("\"" + entry.first + "\" is not an axis of the mesh");
      auto& list = m.groups[entry.first];
      list.resize(axis.size());
      for (size_t g = 0; g < list.size(); ++g) {
        Reader group = axis.at(g);
        list[g].resize(group.size());
        for (size_t j = 0; j < list[g].size(); ++j) {
          list[g][j] = small(group.at(j));
          if (list[g][j] >= m.world) group.at(j).fail("rank " + std::to_string(list[g][j]) + " is outside the mesh");
        }
      }
    }
  }

  // ---- weights, buffers, inputs, outputs ----

  void weights(const Reader& r) { weight_list(r, plan_.weights); }

  static void weight_list(const Reader& r, std::vector<PlanWeight>& list) {
    list.resize(r.size());
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < list.size(); ++i) {
      Reader w = r.at(i);
      PlanWeight& out = list[i];
      out.name = w.at("name").string();
      if (!seen.insert(out.name).second) w.at("name").fail("weight \"" + out.name + "\" is listed twice");
      out.shape = nat_array(w.at("shape"));
      out.dtype = dtype(w.at("dtype"));
      if (w.has("stages")) out.stages = nat_array(w.at("stages"));
      if (w.has("aliases")) out.aliases = string_array(w.at("aliases"));
    }
  }

  void buffers(const Reader& r) { buffer_list(r, plan_.buffers, plan_.arena_bytes); }

  static void buffer_list(const Reader& r, std::vector<PlanBuffer>& list, int64_t arena_bytes) {
    list.resize(r.size());
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < list.size(); ++i) {
      Reader b = r.at(i);
      PlanBuffer& out = list[i];
      out.name = b.at("name").string();
      if (!seen.insert(out.name).second) b.at("name").fail("buffer \"" + out.name + "\" is listed twice");
      out.shape = nat_array(b.at("shape"));
      out.dtype = dtype(b.at("dtype"));
      out.role = static_cast<BufferRole>(pick(b.at("role"), {"input", "table", "state", "cache", "activation", "output"}));
      out.offset = nat(b, "offset");
      out.bytes = nat(b, "bytes");
      if (b.has("stages")) out.stages = nat_array(b.at("stages"));
      if (b.has("live")) {
        const std::vector<int64_t> live = nat_array(b.at("live"));
        if (live.size() != 2) b.at("live").fail("expected [first write, last read]");
        out.live = std::array<int64_t, 2>{live[0], live[1]};
      }
      // The arena is allocated from these numbers and buffers are bound at offset..offset+bytes: a mismatch
      // here would be an out-of-bounds write later, so it is checked once now.
      int64_t expected = shape_bytes(out.shape, dtype_bytes(out.dtype));
      if (expected < 0) b.at("shape").fail("buffer \"" + out.name + "\" has a shape too large to address");
      if (expected != out.bytes)
        b.at("bytes").fail("buffer \"" + out.name + "\" has " + std::to_string(out.bytes) + " bytes, but its shape of " +
                           dtype_name(out.dtype) + " takes " + std::to_string(expected));
      if (out.offset > arena_bytes || out.bytes > arena_bytes - out.offset)
        b.fail("buffer \"" + out.name + "\" at bytes [" + std::to_string(out.offset) + ", " +
               std::to_string(out.offset + out.bytes) + ") ends past the arena's " + std::to_string(arena_bytes) +
               " bytes");
    }
  }

  Shard shard(const Reader& r) {
    Shard s;
    s.axis = axis(r.at("axis"));
    s.parts = nat(r, "parts");
    if (s.parts < 1) r.at("parts").fail("a shard needs at least one part");
    return s;
  }

  // A group axis: one of the mesh's axes, or "sequence".
  std::string axis(const Reader& r) const {
    const std::string& name = r.string();
    if (!axes_.count(name)) r.fail("\"" + name + "\" is not an axis of the mesh (or \"sequence\")");
    return name;
  }

  void inputs(const Reader& r) {
    plan_.inputs.resize(r.size());
    for (size_t i = 0; i < plan_.inputs.size(); ++i) {
      Reader in = r.at(i);
      PlanInput& out = plan_.inputs[i];
      out.buffer = in.at("buffer").string();
      Reader rows = in.at("rows");
      out.first = nat(rows, "first");
      out.count = nat(rows, "count");
      if (in.has("cfgRank")) {
        out.cfg_rank = small(in, "cfgRank");
        if (*out.cfg_rank > 1) in.at("cfgRank").fail("expected 0 or 1, got " + std::to_string(*out.cfg_rank));
      }
      out.source = one_of(in.at("source"), {"noise", "text", "text-mask", "null-text", "labels", "null-labels", "timestep"});
      if (in.has("samplesShard")) out.samples_shard = shard(in.at("samplesShard"));
    }
  }

  void outputs(const Reader& r) {
    plan_.outputs.resize(r.size());
    for (size_t i = 0; i < plan_.outputs.size(); ++i) {
      Reader o = r.at(i);
      plan_.outputs[i].buffer = o.at("buffer").string();
      plan_.outputs[i].name = o.at("name").string();
      plan_.outputs[i].stage = opt_nat(o, "stage");
    }
  }

  // ---- ops ----

  // The name's BufRef, interning it on first sight with the op that named it first.
  BufRef ref(const Reader& r) {
    const std::string& name = r.string();
    auto found = names_->ids.find(name);
    if (found != names_->ids.end()) return {found->second};
    int id = static_cast<int>(names_->names->size());
    names_->ids.emplace(name, id);
    names_->names->push_back(name);
    names_->first_use->push_back(where_);
    return {id};
  }
  BufRef ref(const Reader& op, const char* key) { return ref(op.at(key)); }
  std::optional<BufRef> opt_ref(const Reader& op, const char* key) {
    if (!op.has(key)) return std::nullopt;
    return ref(op, key);
  }

  ModRef mod_ref(const Reader& r) { return {ref(r, "buffer"), nat(r, "chunk")}; }
  std::optional<ModRef> opt_mod_ref(const Reader& op, const char* key) {
    if (!op.has(key)) return std::nullopt;
    return mod_ref(op.at(key));
  }
  std::optional<NormRef> opt_norm(const Reader& op, const char* key) {
    if (!op.has(key)) return std::nullopt;
    Reader r = op.at(key);
    return NormRef{ref(r, "weight"), r.at("eps").number()};
  }

  std::vector<Op> ops(const Reader& r, const char* program) {
    std::vector<Op> out(r.size());
    for (size_t i = 0; i < out.size(); ++i) {
      Reader o = r.at(i);
      Op& op = out[i];
      op.id = small(o, "id");
      // The interpreter and every message number ops by position; the plan must agree.
      if (op.id != static_cast<int>(i))
        o.at("id").fail("op id " + std::to_string(op.id) + " at position " + std::to_string(i) +
                        " (ids must equal positions)");
      op.kind = o.at("op").string();
      op.block = opt_nat(o, "block");
      op.block_kind = opt_one_of(o, "blockKind", {"spatial", "temporal"});
      op.pab = opt_string(o, "pab");
      op.mlp = opt_bool(o, "mlp");
      op.stage = opt_nat(o, "stage");
      op.phase = opt_one_of(o, "phase", {"warmup", "pipelined"});
      op.latent_ring = opt_bool(o, "latentRing");
      where_ = std::string(program) + " " + describe_op(op);
      op.body = body(op.kind, o);
    }
    return out;
  }

  OpBody body(const std::string& kind, const Reader& r) {
    if (kind == "timestep_embed") return timestep_embed(r);
    if (kind == "linear") return linear(r);
    if (kind == "silu") return SiluOp{ref(r, "x"), ref(r, "out"), nat(r, "count")};
    if (kind == "add") return AddOp{ref(r, "a"), ref(r, "b"), ref(r, "out"), nat(r, "count")};
    if (kind == "embedding") return embedding(r);
    if (kind == "patch_embed") return patch_embed(r);
    if (kind == "sincos_2d") return sincos_2d(r);
    if (kind == "sincos_1d") return sincos_1d(r);
    if (kind == "constant") return constant(r);
    if (kind == "concat") return concat(r);
    if (kind == "add_rows") return add_rows(r);
    if (kind == "modulation") return modulation(r);
    if (kind == "layernorm_modulate") return layernorm_modulate(r);
    if (kind == "gate") return gate(r);
    if (kind == "permute") return permute(r);
    if (kind == "self_attention") return self_attention(r);
    if (kind == "cross_attention") return cross_attention(r);
    if (kind == "unpatchify") return unpatchify(r);
    if (kind == "all_to_all") return all_to_all(r);
    if (kind == "all_gather") return all_gather(r);
    if (kind == "guidance") return guidance(r);
    if (kind == "solver_update") return solver_update(r);
    if (kind == "send") return send(r);
    if (kind == "recv") return recv(r);
    if (kind == "conv2d") return conv2d(r);
    if (kind == "group_norm") return group_norm(r);
    if (kind == "upsample_nearest") return upsample_nearest(r);
    r.at("op").fail("unknown op kind \"" + kind + "\"");
  }

  // Fields are read in declaration order of ops.ts, so interning (and first_use) follows the document.
  TimestepEmbedOp timestep_embed(const Reader& r) {
    TimestepEmbedOp op;
    op.t = ref(r, "t");
    op.out = ref(r, "out");
    op.samples = nat(r, "samples");
    op.dim = nat(r, "dim");
    op.max_period = r.at("maxPeriod").number();
    return op;
  }

  LinearOp linear(const Reader& r) {
    LinearOp op;
    op.x = ref(r, "x");
    op.weight = ref(r, "weight");
    op.bias = opt_ref(r, "bias");
    op.out = ref(r, "out");
    op.rows = nat(r, "rows");
    op.in_features = nat(r, "inFeatures");
    op.out_features = nat(r, "outFeatures");
    op.activation = static_cast<Activation>(pick(r.at("activation"), {"none", "gelu_tanh", "silu"}));
    if (r.has("outColumns")) op.out_columns = column_range(r.at("outColumns"));
    if (r.has("padColumns")) op.pad_columns = pad_columns(r.at("padColumns"));
    if (r.has("inColumns")) op.in_columns = column_range(r.at("inColumns"));
    return op;
  }

  EmbeddingOp embedding(const Reader& r) {
    EmbeddingOp op;
    op.table = ref(r, "table");
    op.ids = ref(r, "ids");
    op.out = ref(r, "out");
    op.count = nat(r, "count");
    op.width = nat(r, "width");
    return op;
  }

  PatchEmbedOp patch_embed(const Reader& r) {
    PatchEmbedOp op;
    op.x = ref(r, "x");
    op.input_samples = nat(r, "inputSamples");
    op.weight = ref(r, "weight");
    op.bias = ref(r, "bias");
    op.out = ref(r, "out");
    op.samples = nat(r, "samples");
    op.channels = nat(r, "channels");
    op.latent = latent_size(r.at("latent"));
    op.patch = patch(r.at("patch"));
    op.grid = grid(r.at("grid"));
    if (r.has("shard")) {
      Reader s = r.at("shard");
      Shard base = shard(s);
      op.shard = DimShard{base.axis, base.parts, one_of(s.at("dim"), {"frames", "tokens"})};
    }
    if (r.has("band")) op.band = row_band(r.at("band"));
    if (r.has("padded")) op.padded = padded_tokens(r.at("padded"));
    op.hidden = nat(r, "hidden");
    return op;
  }

  SinCos2dOp sincos_2d(const Reader& r) {
    SinCos2dOp op;
    op.out = ref(r, "out");
    op.rows = nat(r, "rows");
    op.cols = nat(r, "cols");
    op.row_scale = r.at("rowScale").number();
    op.col_scale = r.at("colScale").number();
    op.width = nat(r, "width");
    if (r.has("shard")) op.shard = shard(r.at("shard"));
    if (r.has("band")) op.band = row_band(r.at("band"));
    op.padded = opt_nat(r, "padded");  // a count here, unlike patch_embed's {frames, tokens}
    return op;
  }

  SinCos1dOp sincos_1d(const Reader& r) {
    SinCos1dOp op;
    op.out = ref(r, "out");
    op.count = nat(r, "count");
    op.first = r.at("first").number();
    op.scale = r.at("scale").number();
    op.width = nat(r, "width");
    if (r.has("shard")) op.shard = shard(r.at("shard"));
    return op;
  }

  ConstantOp constant(const Reader& r) {
    ConstantOp op;
    op.out = ref(r, "out");
    Reader values = r.at("values");
    op.values.resize(values.size());
    for (size_t i = 0; i < op.values.size(); ++i) op.values[i] = values.at(i).number();
    op.count = nat(r, "count");
    if (op.values.empty() && op.count > 0) values.fail("a constant of " + std::to_string(op.count) + " values has none to repeat");
    return op;
  }

  ConcatOp concat(const Reader& r) {
    ConcatOp op;
    Reader parts = r.at("parts");
    op.parts.resize(parts.size());
    for (size_t i = 0; i < op.parts.size(); ++i) op.parts[i] = ref(parts.at(i));
    Reader widths = r.at("widths");
    op.widths = nat_array(widths);
    if (op.widths.size() != op.parts.size())
      widths.fail(std::to_string(op.widths.size()) + " widths for " + std::to_string(op.parts.size()) + " parts");
    op.out = ref(r, "out");
    op.rows = nat(r, "rows");
    return op;
  }

  AddRowsOp add_rows(const Reader& r) {
    AddRowsOp op;
    op.x = ref(r, "x");
    op.table = ref(r, "table");
    op.out = ref(r, "out");
    op.rows = nat(r, "rows");
    op.width = nat(r, "width");
    op.period = nat(r, "period");
    op.repeat = nat(r, "repeat");
    return op;
  }

  ModulationOp modulation(const Reader& r) {
    ModulationOp op;
    op.table = opt_ref(r, "table");
    op.source = ref(r, "source");
    op.out = ref(r, "out");
    op.samples = nat(r, "samples");
    op.chunks = nat(r, "chunks");
    op.source_chunks = nat(r, "sourceChunks");
    op.width = nat(r, "width");
    return op;
  }

  LayerNormModulateOp layernorm_modulate(const Reader& r) {
    LayerNormModulateOp op;
    op.x = ref(r, "x");
    op.out = ref(r, "out");
    op.rows = nat(r, "rows");
    op.width = nat(r, "width");
    op.eps = r.at("eps").number();
    op.rows_per_sample = nat(r, "rowsPerSample");
    op.shift = opt_mod_ref(r, "shift");
    op.scale = opt_mod_ref(r, "scale");
    return op;
  }

  GateOp gate(const Reader& r) {
    GateOp op;
    op.x = ref(r, "x");
    op.gate = mod_ref(r.at("gate"));
    op.out = ref(r, "out");
    op.rows = nat(r, "rows");
    op.width = nat(r, "width");
    op.rows_per_sample = nat(r, "rowsPerSample");
    return op;
  }

  PermuteOp permute(const Reader& r) {
    PermuteOp op;
    op.x = ref(r, "x");
    op.out = ref(r, "out");
    op.dims = dims4(r.at("dims"));
    Reader perm = r.at("perm");
    op.perm = dims4(perm);
    // A permutation of 0..3, or the copy would read past its view.
    int seen = 0;
    for (int64_t p : op.perm) seen |= p < 4 ? 1 << p : 16;
    if (seen != 15) perm.fail("expected a permutation of 0, 1, 2, 3");
    return op;
  }

  SelfAttentionOp self_attention(const Reader& r) {
    SelfAttentionOp op;
    op.qkv = ref(r, "qkv");
    op.out = ref(r, "out");
    op.batch = nat(r, "batch");
    op.seq = nat(r, "seq");
    op.heads = nat(r, "heads");
    op.head_dim = nat(r, "headDim");
    op.scale = r.at("scale").number();
    op.q_norm = opt_norm(r, "qNorm");
    op.k_norm = opt_norm(r, "kNorm");
    if (r.has("rope")) op.rope_theta = r.at("rope").at("theta").number();
    if (r.has("ring")) op.ring = axis(r.at("ring"));
    if (r.has("kvCache")) {
      Reader kv = r.at("kvCache");
      op.kv_cache = KvCacheRef{ref(kv, "buffer"), nat(kv, "keys"), nat(kv, "offset")};
    }
    op.valid_keys = opt_nat(r, "validKeys");
    return op;
  }

  CrossAttentionOp cross_attention(const Reader& r) {
    CrossAttentionOp op;
    op.q = ref(r, "q");
    op.kv = ref(r, "kv");
    op.mask = opt_ref(r, "mask");
    op.out = ref(r, "out");
    op.samples = nat(r, "samples");
    op.queries = nat(r, "queries");
    op.keys = nat(r, "keys");
    op.heads = nat(r, "heads");
    op.head_dim = nat(r, "headDim");
    op.scale = r.at("scale").number();
    return op;
  }

  UnpatchifyOp unpatchify(const Reader& r) {
    UnpatchifyOp op;
    op.x = ref(r, "x");
    op.out = ref(r, "out");
    op.samples = nat(r, "samples");
    op.channels = nat(r, "channels");
    op.grid = grid(r.at("grid"));
    op.patch = patch(r.at("patch"));
    op.latent = latent_size(r.at("latent"));
    if (r.has("band")) op.band = row_band(r.at("band"));
    if (r.has("padded")) op.padded = padded_tokens(r.at("padded"));
    return op;
  }

  // An index into a 4-D view.
  static int64_t dim_index(const Reader& r, const char* key) {
    int64_t d = nat(r, key);
    if (d > 3) r.at(key).fail("expected a dimension of a 4-D view (0 to 3), got " + std::to_string(d));
    return d;
  }

  AllToAllOp all_to_all(const Reader& r) {
    AllToAllOp op;
    op.axis = axis(r.at("axis"));
    op.x = ref(r, "x");
    op.out = ref(r, "out");
    op.dims = dims4(r.at("dims"));
    op.scatter = dim_index(r, "scatter");
    op.gather = dim_index(r, "gather");
    return op;
  }

  AllGatherOp all_gather(const Reader& r) {
    AllGatherOp op;
    op.axis = axis(r.at("axis"));
    op.x = ref(r, "x");
    op.out = ref(r, "out");
    op.dims = dims4(r.at("dims"));
    op.dim = dim_index(r, "dim");
    return op;
  }

  GuidanceOp guidance(const Reader& r) {
    GuidanceOp op;
    op.x = ref(r, "x");
    op.out = ref(r, "out");
    op.samples = nat(r, "samples");
    op.plane = nat(r, "plane");
    op.channels = nat(r, "channels");
    op.prediction_channels = nat(r, "predictionChannels");
    op.mixed = nat(r, "mixed");
    op.variance = static_cast<Variance>(pick(r.at("variance"), {"drop", "cond"}));
    op.scale = r.at("scale").number();
    return op;
  }

  SolverOp solver_update(const Reader& r) {
    SolverOp op;
    op.solver = solver(r.at("solver"));
    op.latent = ref(r, "latent");
    op.prediction = ref(r, "prediction");
    op.learned_variance = r.at("learnedVariance").boolean();
    op.history = opt_ref(r, "history");
    op.samples = nat(r, "samples");
    op.channels = nat(r, "channels");
    op.stride = nat(r, "stride");
    op.plane = nat(r, "plane");
    op.noise_seed = static_cast<uint64_t>(nat(r, "noiseSeed"));
    if (r.has("band")) op.band = solver_band(r.at("band"));
    return op;
  }

  SendOp send(const Reader& r) {
    SendOp op;
    op.axis = axis(r.at("axis"));
    op.peer = one_of(r.at("peer"), {"next", "prev"});
    op.x = ref(r, "x");
    op.dims = dims4(r.at("dims"));
    if (r.has("slice")) op.slice = view_slice(r.at("slice"));
    return op;
  }

  RecvOp recv(const Reader& r) {
    RecvOp op;
    op.axis = axis(r.at("axis"));
    op.peer = one_of(r.at("peer"), {"next", "prev"});
    op.out = ref(r, "out");
    op.dims = dims4(r.at("dims"));
    if (r.has("slice")) op.slice = view_slice(r.at("slice"));
    return op;
  }

  // ---- the VAE decoder's ops ----

  std::optional<HaloRef> opt_halo(const Reader& op, const char* key) {
    if (!op.has(key)) return std::nullopt;
    return HaloRef{axis(op.at(key).at("axis"))};
  }

  // A size that must be at least 1 (a zero would make an op of nothing, or divide by zero).
  static int64_t positive(const Reader& r, const char* key) {
    const int64_t v = nat(r, key);
    if (v < 1) r.at(key).fail("expected a positive integer, got 0");
    return v;
  }

  Conv2dOp conv2d(const Reader& r) {
    Conv2dOp op;
    op.x = ref(r, "x");
    op.weight = ref(r, "weight");
    op.bias = opt_ref(r, "bias");
    op.out = ref(r, "out");
    op.frames = nat(r, "frames");
    op.height = nat(r, "height");
    op.width = nat(r, "width");
    op.in_channels = positive(r, "inChannels");
    op.out_channels = positive(r, "outChannels");
    op.kernel = nat(r, "kernel");
    if (op.kernel != 1 && op.kernel != 3) r.at("kernel").fail("expected 1 or 3, got " + std::to_string(op.kernel));
    op.halo = opt_halo(r, "halo");
    return op;
  }

  GroupNormOp group_norm(const Reader& r) {
    GroupNormOp op;
    op.x = ref(r, "x");
    op.weight = ref(r, "weight");
    op.bias = ref(r, "bias");
    op.out = ref(r, "out");
    op.frames = nat(r, "frames");
    op.height = nat(r, "height");
    op.width = nat(r, "width");
    op.channels = positive(r, "channels");
    op.groups = positive(r, "groups");
    if (op.channels % op.groups != 0)
      r.at("groups").fail(std::to_string(op.groups) + " groups do not divide " + std::to_string(op.channels) + " channels");
    op.eps = r.at("eps").number();
    op.silu = r.at("silu").boolean();
    op.reduce = opt_halo(r, "reduce");
    return op;
  }

  UpsampleNearestOp upsample_nearest(const Reader& r) {
    UpsampleNearestOp op;
    op.x = ref(r, "x");
    op.out = ref(r, "out");
    op.frames = nat(r, "frames");
    op.height = nat(r, "height");
    op.width = nat(r, "width");
    op.channels = nat(r, "channels");
    op.factor = positive(r, "factor");
    return op;
  }

  // ---- plan.decode ----

  void decode(const Reader& r) {
    PlanDecode& d = plan_.decode.emplace();
    d.vae = one_of(r.at("vae"), {"sd-vae-ft-ema", "sd-vae-ft-mse", "sdxl-vae"});
    d.checkpoint = r.at("checkpoint").string();
    d.weights_seed = static_cast<uint64_t>(nat(r, "weightsSeed"));
    d.dtype = static_cast<DType>(pick(r.at("dtype"), {"f32", "bf16", "f16"}));
    d.scale = r.at("scale").number();
    if (!(d.scale > 0) || !std::isfinite(d.scale)) r.at("scale").fail("expected a positive scale");
    Reader latent = r.at("latent");
    d.channels = positive(latent, "channels");
    d.frames = positive(latent, "frames");
    d.height = positive(latent, "height");
    d.width = positive(latent, "width");
    Reader image = r.at("image");
    d.image_height = positive(image, "height");
    d.image_width = positive(image, "width");
    d.samples = nat(r, "samples");
    d.frames_per_pass = positive(r, "framesPerPass");
    split(r.at("split"), d);
    d.passes = nat(r, "passes");
    Reader ranks = r.at("ranks");
    d.ranks.resize(ranks.size());
    for (size_t i = 0; i < d.ranks.size(); ++i) {
      d.ranks[i] = small(ranks.at(i));
      if (d.ranks[i] >= plan_.mesh.world) ranks.at(i).fail("rank " + std::to_string(d.ranks[i]) + " is outside the mesh");
    }
    weight_list(r.at("weights"), d.weights);
    d.arena_bytes = nat(r, "arenaBytes");
    buffer_list(r.at("buffers"), d.buffers, d.arena_bytes);
    d.input = r.at("input").string();
    d.output = r.at("output").string();
    // The program's names are the decode's own: intern them apart from the DiT's.
    Names decode_names{&d.names, &d.first_use, {}};
    names_ = &decode_names;
    d.program = ops(r.at("program"), "decode");
    names_ = &plan_names_;
  }

  static void split(const Reader& r, PlanDecode& d) {
    DecodeSplit& s = d.split;
    s.kind = one_of(r.at("kind"), {"whole", "tiled", "patch"});
    if (s.kind == "tiled") {
      Reader tile = r.at("tile");
      s.tile_height = positive(tile, "height");
      s.tile_width = positive(tile, "width");
      s.overlap = nat(r, "overlap");
      s.rows = nat_array(r.at("rows"));
      s.cols = nat_array(r.at("cols"));
      // Every tile must lie inside the latent: the runtime fills and places them without further checks.
      for (size_t i = 0; i < s.rows.size(); ++i)
        if (s.rows[i] + s.tile_height > d.height)
          r.at("rows").at(i).fail("a tile row starting at " + std::to_string(s.rows[i]) + " of height " + std::to_string(s.tile_height) +
                                  " ends past the latent's " + std::to_string(d.height) + " rows");
      for (size_t i = 0; i < s.cols.size(); ++i)
        if (s.cols[i] + s.tile_width > d.width)
          r.at("cols").at(i).fail("a tile column starting at " + std::to_string(s.cols[i]) + " of width " + std::to_string(s.tile_width) +
                                  " ends past the latent's " + std::to_string(d.width) + " columns");
      if (s.rows.empty() || s.cols.empty()) r.fail("a tiled split needs at least one tile row and column");
    } else if (s.kind == "patch") {
      s.axis = one_of(r.at("axis"), {"decode"});
      s.parts = positive(r, "parts");
      if (d.height % s.parts != 0)
        r.at("parts").fail(std::to_string(s.parts) + " parts do not divide the latent's " + std::to_string(d.height) + " rows");
    }
  }

  // ---- patterns and steps ----

  void patterns(const Reader& r) {
    plan_.patterns.resize(r.size());
    for (size_t i = 0; i < plan_.patterns.size(); ++i) {
      Reader p = r.at(i);
      PlanPattern& out = plan_.patterns[i];
      out.id = small(p, "id");
      // Steps name patterns by id and the interpreter indexes patterns by it.
      if (out.id != static_cast<int>(i))
        p.at("id").fail("pattern id " + std::to_string(out.id) + " at position " + std::to_string(i) +
                        " (ids must equal positions)");
      out.reuse = string_array(p.at("reuse"));
      out.mlp_reuse = string_array(p.at("mlpReuse"));
      out.mlp_keep = string_array(p.at("mlpKeep"));
      out.steps = nat(p, "steps");
      out.phase = opt_one_of(p, "phase", {"warmup", "pipelined"});
      out.latent_in = opt_bool(p, "latentIn");
      out.latent_out = opt_bool(p, "latentOut");
    }
  }

  void steps(const Reader& r) {
    plan_.steps.resize(r.size());
    for (size_t i = 0; i < plan_.steps.size(); ++i) {
      Reader s = r.at(i);
      PlanStep& out = plan_.steps[i];
      Reader pattern = s.at("pattern");
      out.pattern = small(pattern);
      if (static_cast<size_t>(out.pattern) >= plan_.patterns.size())
        pattern.fail("step " + std::to_string(i) + " runs pattern " + std::to_string(out.pattern) + ", but the plan has " +
                     std::to_string(plan_.patterns.size()) + " patterns");
      Reader schedule = s.at("schedule");
      out.schedule.index = nat(schedule, "index");
      // Solvers read steps[step] for the step they run; an entry out of place would apply another step's update.
      if (out.schedule.index != static_cast<int64_t>(i))
        schedule.at("index").fail("step " + std::to_string(i) + " carries the schedule entry of step " +
                                  std::to_string(out.schedule.index));
      out.schedule.timestep = schedule.at("timestep").number();
      for (const auto& m : members(schedule)) {
        const json::Value& v = m.second;
        double x;
        if (v.is_number()) x = v.number;
        else if (v.is_bool()) x = v.boolean ? 1 : 0;
        else if (v.is_null()) x = std::numeric_limits<double>::quiet_NaN();
        else member(schedule, m).fail("expected a number, a boolean or null");
        out.schedule.values.emplace(m.first, x);
      }
    }
  }
};

}  // namespace

Plan parse_plan(std::string_view json_text) {
  json::Value document;
  // Say which document was malformed: the JSON parser only knows the byte.
  with_context("the plan is not valid JSON", [&] { document = json::parse(json_text); });
  Plan plan;
  PlanParser(plan).run(Reader(document, "plan"));
  return plan;
}

}  // namespace od
