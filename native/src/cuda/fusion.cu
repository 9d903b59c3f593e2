// The CUDA backend's fusions of step-program ops (cuda/fusion.h says which and why): the planner, the per-step
// kernel that turns the plan's modulation rows into the residual GEMM's gate vectors and gated bias, and the
// enqueue of a fused site.
#include "cuda/fusion.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"

namespace od::cuda {
namespace {

// A sample's gate vector (and gated bias) starts this many values after the previous sample's: 256 bytes of fp32,
// so every sample's vectors keep the region's 256-byte alignment whatever the width.
constexpr int64_t kVectorStride = 64;
constexpr size_t kRegionAlign = 256;

int64_t round_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

// alpha[s·stride + j] = mod[(s·chunks + chunk)·width + j] (the gate row of sample s, as the CPU's gate reads it),
// and with a bias, gated_bias[s·stride + j] = alpha[s·stride + j] · bias[j], rounded once to `gbt`.
__global__ void gate_vectors_kernel(const void* mod, DType mt, int64_t chunks, int64_t chunk, int64_t width, int64_t samples,
                                    int64_t stride, const void* bias, DType bt, float* alpha, void* gated_bias, DType gbt) {
  const int64_t total = samples * width;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t s = i / width, j = i % width;
    const float g = load_f(mod, mt, (s * chunks + chunk) * width + j);
    alpha[s * stride + j] = g;
    if (bias) store_f(gated_bias, gbt, s * stride + j, __fmul_rn(g, load_f(bias, bt, j)));
  }
}

bool is_float(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

// Whether two step ops run on exactly the same steps and ranks (compiler/plan/pattern-runs.ts runsIn reads these).
bool same_steps(const Op& a, const Op& b) {
  return a.pab == b.pab && a.mlp == b.mlp && a.stage == b.stage && a.phase == b.phase && a.block == b.block &&
         a.block_kind == b.block_kind && !a.latent_ring && !b.latent_ring;
}

std::string block_of(const Op& op) { return op.block_kind.empty() ? std::string() : " (" + op.block_kind + ")"; }

// The plan's buffers by name id (nullptr for weights).
std::vector<const PlanBuffer*> buffers_by_id(const Plan& plan) {
  std::map<std::string, const PlanBuffer*> by_name;
  for (const PlanBuffer& b : plan.buffers) by_name[b.name] = &b;
  std::vector<const PlanBuffer*> by_id(plan.names.size(), nullptr);
  for (size_t id = 0; id < plan.names.size(); ++id) {
    const auto it = by_name.find(plan.names[id]);
    if (it != by_name.end()) by_id[id] = it->second;
  }
  return by_id;
}

const PlanBuffer* buffer_of(const std::vector<const PlanBuffer*>& buf, BufRef ref) {
  return ref.id >= 0 && static_cast<size_t>(ref.id) < buf.size() ? buf[static_cast<size_t>(ref.id)] : nullptr;
}

// An activation whose last read is step op `op_id`: nothing reads it after, so a fusion need not write it.
bool dies_at(const PlanBuffer* b, size_t op_id) {
  return b && b->role == BufferRole::Activation && b->live && (*b->live)[1] == static_cast<int64_t>(op_id);
}

bool share_bytes(const PlanBuffer& a, const PlanBuffer& b) {
  return a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
}

// A linear → (permute →) (gate →) add chain of the step program that the residual GEMM computes, before the
// dtypes are looked at.
struct Chain {
  size_t first = 0, last = 0;  // step positions of the linear and the add
  const LinearOp* linear = nullptr;
  const PermuteOp* permute = nullptr;  // the rows (a, i, j) of the linear's output reordered (a, j, i)
  const GateOp* gate = nullptr;
  const AddOp* add = nullptr;
  BufRef residual;
};

// The chain starting at step position k, when the ops' structure allows it (cuda/fusion.h lists the conditions).
bool match_chain(const Plan& plan, const std::vector<const PlanBuffer*>& buf, size_t k, int64_t stage, Chain& c) {
  const auto* l = std::get_if<LinearOp>(&plan.step[k].body);
  const Op& lo = plan.step[k];
  if (!l || (lo.stage && *lo.stage != stage)) return false;
  if (l->activation != Activation::None || l->in_columns || l->out_columns || l->pad_columns) return false;
  if (l->rows <= 0 || l->in_features <= 0 || l->out_features <= 0) return false;
  auto op_at = [&](size_t i) -> const Op* { return i < plan.step.size() ? &plan.step[i] : nullptr; };
  size_t i = k + 1;
  const PermuteOp* pm = op_at(i) ? std::get_if<PermuteOp>(&op_at(i)->body) : nullptr;
  if (pm) ++i;
  const GateOp* g = op_at(i) ? std::get_if<GateOp>(&op_at(i)->body) : nullptr;
  if (g) ++i;
  const AddOp* a = op_at(i) ? std::get_if<AddOp>(&op_at(i)->body) : nullptr;
  if (!a) return false;
  const size_t last = i;
  for (size_t j = k; j <= last; ++j)
    if (plan.step[j].id != static_cast<int>(j) || !same_steps(lo, plan.step[j])) return false;
  auto at = [&](BufRef r) { return buffer_of(buf, r); };
  // Each intermediate output (the linear's, the permute's, the gate's) dies at the op consuming it.
  size_t next = k + 1;
  BufRef fed = l->out;
  if (pm) {
    const Dims4& d = pm->dims;
    if (pm->x.id != fed.id || pm->perm != Dims4{0, 2, 1, 3} || d[3] != l->out_features || d[0] * d[1] * d[2] != l->rows ||
        !dies_at(at(fed), next))
      return false;
    fed = pm->out;
    ++next;
  }
  if (g) {
    if (g->x.id != fed.id || g->out.id == fed.id || g->rows != l->rows || g->width != l->out_features || g->rows_per_sample < 1 ||
        g->rows % g->rows_per_sample != 0 || !dies_at(at(fed), next))
      return false;
    // Permuted, a sample is one permute batch, so each of the GEMM's calls scales by one gate row.
    if (pm && g->rows_per_sample != pm->dims[1] * pm->dims[2]) return false;
    fed = g->out;
    ++next;
  }
  if (!dies_at(at(fed), last)) return false;
  // The add reads the fed buffer once; its other operand, the residual, is what it writes.
  if ((a->a.id == fed.id) == (a->b.id == fed.id)) return false;
  const BufRef r = a->a.id == fed.id ? a->b : a->a;
  if (r.id == l->out.id || (pm && r.id == pm->out.id) || (g && r.id == g->out.id) || a->out.id != r.id ||
      a->count != l->rows * l->out_features)
    return false;
  // The GEMM writes the residual while it reads x: they may not share bytes.
  const PlanBuffer* rb = at(r);
  const PlanBuffer* xb = at(l->x);
  if (!rb || !xb || share_bytes(*rb, *xb)) return false;
  c = Chain{k, last, l, pm, g, a, r};
  return true;
}

// The residual GEMM site computing a chain, its GEMM prepared. False where the dtypes do not fit (`why` empty) or
// cuBLASLt has no algorithm for it (`why` says so; s.where and s.key name the GEMM).
bool residual_site(const Plan& plan, const Chain& c, const Context& ctx, Gemm& gemm, Fusion::Site& s, std::string& why) {
  const LinearOp& l = *c.linear;
  const DeviceSlot& w = ctx.buf(l.weight);
  const DeviceSlot& x = ctx.buf(l.x);
  const DeviceSlot& y = ctx.buf(c.residual);
  const DeviceSlot* b = l.bias ? &ctx.buf(*l.bias) : nullptr;
  const DeviceSlot* mod = c.gate ? &ctx.buf(c.gate->gate.buffer) : nullptr;
  if (!is_float(w.dtype) || x.dtype != w.dtype || (y.dtype != w.dtype && y.dtype != DType::F32) || (b && !is_float(b->dtype)) ||
      (mod && !is_float(mod->dtype)))
    return false;
  s.kind = Fusion::Site::Kind::GemmResidual;
  const Op& lo = plan.step[c.first];
  const std::string chain = std::string("linear") + (c.permute ? "+permute" : "") + (c.gate ? "+gate" : "") + "+add";
  s.profile_key = chain + block_of(lo) + " " + std::to_string(l.rows) + "x" + std::to_string(l.in_features) + "->" +
                  std::to_string(l.out_features);
  s.where = chain + " of step ops " + std::to_string(c.first) + ".." + std::to_string(c.last) +
            (lo.block ? " (" + (lo.block_kind.empty() ? std::string("block") : lo.block_kind + " block") + " " +
                            std::to_string(*lo.block) + ")"
                      : std::string());
  s.gate = c.gate;
  s.w = w.ptr;
  s.x = x.ptr;
  s.y = y.ptr;
  s.bias = b ? b->ptr : nullptr;
  s.bias_dtype = b ? b->dtype : DType::F32;
  s.samples = c.gate ? l.rows / c.gate->rows_per_sample : 1;
  s.sample_stride = round_up(l.out_features, kVectorStride);
  ResidualKey& key = s.key;
  key.ab = w.dtype;
  key.d = y.dtype;
  key.in = l.in_features;
  key.out = l.out_features;
  key.alpha_vector = c.gate != nullptr;
  key.bias = b != nullptr;
  if (c.permute) {
    // y rows (a, j, i) = x rows (a, i, j): per sample a (one call), one batch per j of the rows i, which lie
    // d2 rows apart in x and follow each other in y; the sample's gate vector serves every batch.
    const Dims4& d = c.permute->dims;
    key.rows = d[1];
    key.ldx = d[2] * key.in;
    key.batches = d[2];
    key.batch_x = key.in;
    key.batch_y = d[1] * key.out;
    key.vector_stride = 0;
    key.calls = d[0];
    key.call_x = d[1] * d[2] * key.in;
    key.call_y = d[1] * d[2] * key.out;
    key.call_vector = c.gate ? s.sample_stride : 0;
  } else if (c.gate) {
    // One batch per sample, each scaled by its own gate vector.
    key.rows = c.gate->rows_per_sample;
    key.ldx = key.in;
    key.batches = s.samples;
    key.batch_x = key.rows * key.in;
    key.batch_y = key.rows * key.out;
    key.vector_stride = s.sample_stride;
  } else {
    key.rows = l.rows;
    key.ldx = key.in;
  }
  const auto align = [&](const void* p, int64_t batch, int64_t call, DType t) {
    uint32_t a = alignment_of(reinterpret_cast<uintptr_t>(p));
    if (key.batches > 1) a = std::min(a, alignment_of(static_cast<uintptr_t>(batch * dtype_bytes(t))));
    if (key.calls > 1) a = std::min(a, alignment_of(static_cast<uintptr_t>(call * dtype_bytes(t))));
    return a;
  };
  key.align_w = alignment_of(reinterpret_cast<uintptr_t>(w.ptr));
  key.align_x = align(x.ptr, key.batch_x, key.call_x, x.dtype);
  key.align_y = align(y.ptr, key.batch_y, key.call_y, y.dtype);
  // The bias types to try: the gated bias in fp32 first (its products unrounded), then in the residual's dtype;
  // the linear's own bias weight as it is.
  std::vector<DType> bias_types;
  if (!c.gate) bias_types = {s.bias_dtype};
  else if (key.d == DType::F32 || !b) bias_types = {DType::F32};
  else bias_types = {DType::F32, key.d};
  bool prepared = false;
  for (DType bt : bias_types) {
    key.bias_type = bt;
    key.align_bias = !b ? 256
                     : c.gate ? std::min<uint32_t>(256, alignment_of(static_cast<uintptr_t>(s.sample_stride * dtype_bytes(bt))))
                              : alignment_of(reinterpret_cast<uintptr_t>(b->ptr));
    if ((prepared = gemm.prepare_residual(key, s.where, why))) break;
  }
  if (!prepared) return false;
  if (c.gate) {
    s.mod = mod->ptr;
    s.mod_dtype = mod->dtype;
    s.chunk = c.gate->gate.chunk;
    s.chunks = mod->count / (s.samples * key.out);  // [samples, chunks, width], as the CPU's gate reads it
  }
  return true;
}

// The first GEMM cuBLASLt refused, said once per process.
void note_unfused(const std::string& where, const std::string& why, int64_t chains) {
  static std::atomic<bool> said{false};
  if (said.exchange(true)) return;
  std::fprintf(stderr, "opendit: CUDA: %lld linear→add chain%s of this run not fused into the GEMM (they run as before): %s: %s\n",
               static_cast<long long>(chains), chains == 1 ? "" : "s", where.c_str(), why.c_str());
}

}  // namespace

Fusion::~Fusion() { reset(); }

void Fusion::reset() {
  if (vectors_) cudaFree(vectors_);  // no check: also called from the destructor
  vectors_ = nullptr;
  vector_bytes_ = 0;
  bias_offset_ = 0;
  sites_.clear();
  plan_ = nullptr;
  gemm_ = nullptr;
  counts_ = FusionCounts{};
}

void Fusion::plan(const Memory& host, const Context& ctx, Gemm& gemm) {
  reset();
  if (!ctx.dev) return;
  const Plan& plan = host.plan();
  const int64_t stage = host.stage();
  const std::vector<const PlanBuffer*> buf = buffers_by_id(plan);
  plan_ = &plan;
  gemm_ = &gemm;
  sites_.assign(plan.step.size(), Site{});
  size_t alpha_bytes = 0, bias_bytes = 0;  // the largest gated site's needs
  int64_t refused = 0;
  std::string refused_where, refused_why;

  for (size_t k = 0; k < plan.step.size(); ++k) {
    if (sites_[k].kind != Site::Kind::Own) continue;
    Chain c;
    if (match_chain(plan, buf, k, stage, c)) {
      Site s;
      std::string why;
      if (residual_site(plan, c, ctx, gemm, s, why)) {
        if (s.key.alpha_vector) {
          alpha_bytes = std::max(alpha_bytes, static_cast<size_t>(s.samples * s.sample_stride) * sizeof(float));
          if (s.key.bias)
            bias_bytes = std::max(bias_bytes, static_cast<size_t>(s.samples * s.sample_stride * dtype_bytes(s.key.bias_type)));
        }
        for (size_t i = c.first; i < c.last; ++i) sites_[i].kind = Site::Kind::Skip;
        sites_[c.last] = std::move(s);
        counts_.gemm_residual++;
        k = c.last;
        continue;
      }
      if (!why.empty() && refused++ == 0) {
        refused_where = s.where + ", " + s.key.describe();
        refused_why = why;
      }
    }
    // A gate → add pair: the add computes both in one pass.
    if (k + 1 >= plan.step.size()) continue;
    const Op& go = plan.step[k];
    const Op& ao = plan.step[k + 1];
    const auto* gate = std::get_if<GateOp>(&go.body);
    const auto* add = std::get_if<AddOp>(&ao.body);
    if (!gate || !add || go.id != static_cast<int>(k) || ao.id != static_cast<int>(k + 1) || (go.stage && *go.stage != stage) ||
        !same_steps(go, ao))
      continue;
    const bool reads_gate = (add->a.id == gate->out.id) != (add->b.id == gate->out.id);
    if (!reads_gate || add->out.id == gate->out.id || add->count != gate->rows * gate->width ||
        !dies_at(buffer_of(buf, gate->out), k + 1))
      continue;
    Site& s = sites_[k + 1];
    s.kind = Site::Kind::GatedAdd;
    s.profile_key = "gate+add" + block_of(ao);
    s.unfused = &go;
    s.gate = gate;
    s.add = add;
    sites_[k].kind = Site::Kind::Skip;
    counts_.gated_add++;
    k++;
  }

  if (refused > 0) note_unfused(refused_where, refused_why, refused);
  if (alpha_bytes > 0) {
    bias_offset_ = (alpha_bytes + kRegionAlign - 1) / kRegionAlign * kRegionAlign;
    const size_t bytes = bias_offset_ + bias_bytes;
    const cudaError_t st = cudaMalloc(&vectors_, bytes);
    if (st != cudaSuccess) {
      vectors_ = nullptr;
      const std::string why = cudaGetErrorString(st);
      reset();
      OD_FAIL("CUDA: cannot allocate " + std::to_string(bytes) + " bytes for the fused residual GEMMs' gate vectors: " + why,
              "the plan needs more GPU memory than is free; OPENDIT_CUDA_FUSE=0 runs without them");
    }
    vector_bytes_ = bytes;
  }
  if (counts_.gemm_residual == 0 && counts_.gated_add == 0) reset();
}

const Fusion::Site* Fusion::at(const Op& op) const {
  if (!plan_ || sites_.empty()) return nullptr;
  const Op* first = plan_->step.data();
  const std::less<const Op*> before;
  if (before(&op, first) || !before(&op, first + plan_->step.size())) return nullptr;
  const Site& s = sites_[static_cast<size_t>(&op - first)];
  return s.kind == Site::Kind::Own ? nullptr : &s;
}

bool Fusion::run(const Site& site, Context& ctx) const {
  if (site.kind == Site::Kind::GatedAdd) return run_gated_add(*site.gate, *site.add, ctx);
  OD_CHECK(site.kind == Site::Kind::GemmResidual && gemm_, "a fusion site with nothing to run", "a CUDA backend defect");
  const ResidualKey& key = site.key;
  float* alpha = nullptr;
  const void* bias = site.bias;
  if (key.alpha_vector) {
    // This step's gate rows (the modulation op wrote them earlier in the step) and gated bias, then the GEMM reads
    // them: both on ctx.stream, so the next site's kernel cannot overwrite them early.
    alpha = static_cast<float*>(vectors_);
    void* gated_bias = key.bias ? static_cast<uint8_t*>(vectors_) + bias_offset_ : nullptr;
    const int64_t n = site.samples * key.out;
    gate_vectors_kernel<<<blocks_for(n), kThreads, 0, ctx.stream>>>(site.mod, site.mod_dtype, site.chunks, site.chunk, key.out,
                                                                      site.samples, site.sample_stride, site.bias, site.bias_dtype,
                                                                      alpha, gated_bias, key.bias_type);
    OD_CUDA_LAUNCHED(gate_vectors_kernel);
    bias = gated_bias;
  }
  gemm_->run_residual(key, site.w, site.x, alpha, key.bias ? bias : nullptr, site.y, ctx.stream, site.where);
  return true;
}

}  // namespace od::cuda
