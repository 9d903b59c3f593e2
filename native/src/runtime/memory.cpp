// The memory of one rank (runtime/memory.h). Mirrors runtime/reference/memory.ts (every buffer zeroed, weights by
// name) and runtime/reference/ops/sincos-1d.ts shardIndex, but lays the buffers out in one arena at the offsets
// compiler/plan/memory.ts chose, so activations share bytes exactly as the plan says they may.
#include "runtime/memory.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"

namespace od {
namespace {

constexpr size_t kAlign = 64;  // cache line / AVX-512 vector

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool is_sequence_axis(const std::string& name) { return name == "dsp" || name == "ulysses" || name == "ring"; }

}  // namespace

Memory::Memory(const Plan& plan, LoadedWeights weights, int rank) : plan_(&plan), rank_(rank), weights_(std::move(weights)) {
  OD_CHECK(rank >= 0 && static_cast<size_t>(rank) < plan.mesh.ranks.size(),
           "the plan's mesh has " + std::to_string(plan.mesh.ranks.size()) + " ranks, not a rank " + std::to_string(rank),
           "pick a rank in [0, world)");

  // fp32 storage for every floating buffer: a plan with 2-byte elements gets its offsets and arena doubled, which
  // maps each buffer's byte range [o, o + 2n) onto [2o, 2o + 4n), inside the image of its own bytes.
  int min_bytes = 4;
  for (const PlanBuffer& b : plan.buffers) min_bytes = std::min(min_bytes, dtype_bytes(b.dtype));
  const int64_t scale = 4 / min_bytes;
  arena_bytes_ = plan.arena_bytes * scale;
  arena_.reset(static_cast<uint8_t*>(std::calloc(static_cast<size_t>(arena_bytes_) + kAlign, 1)));
  OD_CHECK(arena_ != nullptr, "cannot allocate the plan's host arena of " + std::to_string(arena_bytes_) + " bytes",
           "the host is out of memory: fewer ranks per node, or a plan with less activation memory");
  const uintptr_t raw = reinterpret_cast<uintptr_t>(arena_.get());
  base_ = arena_.get() + ((kAlign - raw % kAlign) % kAlign);

  buffer_slots_.reserve(plan.buffers.size() + weights_.weights.size());
  for (const PlanBuffer& b : plan.buffers) {
    Slot s;
    s.name = &b.name;
    s.shape = b.shape;
    s.count = product(b.shape);
    s.is_int = b.dtype == DType::I32;
    const int64_t at = b.offset * scale;
    const int64_t bytes = s.count * 4;
    OD_CHECK(b.offset >= 0 && at + bytes <= arena_bytes_ && b.offset % 4 == 0,
             "plan buffer `" + b.name + "` " + shape_text(b.shape) + " at offset " + std::to_string(b.offset) +
                 " does not fit the plan's arena of " + std::to_string(plan.arena_bytes) + " bytes",
             "the plan's memory layout is inconsistent; recompile it");
    if (s.is_int)
      s.i = reinterpret_cast<int32_t*>(base_ + at);
    else
      s.f = reinterpret_cast<float*>(base_ + at);
    buffer_slots_.push_back(std::move(s));
  }
  for (LoadedWeight& w : weights_.weights) {
    Slot s;
    s.name = &w.name;
    s.shape = w.shape;
    s.count = w.count;
    s.is_weight = true;
    s.f = w.data;
    buffer_slots_.push_back(std::move(s));
  }

  // Names → slots. A plan weight of another pipeline stage is not loaded here: it stays unbound (only that
  // stage's ops name it, and they do not run here); any other unknown name is a plan defect.
  std::unordered_map<std::string_view, const Slot*> slots;
  for (const Slot& s : buffer_slots_) slots.emplace(*s.name, &s);
  std::unordered_set<std::string_view> plan_weights;
  for (const PlanWeight& w : plan.weights) plan_weights.insert(w.name);
  by_id_.assign(plan.names.size(), nullptr);
  for (size_t id = 0; id < plan.names.size(); id++) {
    const std::string& name = plan.names[id];
    auto it = slots.find(name);
    const Slot* found = it == slots.end() ? nullptr : it->second;
    if (!found) {
      if (plan_weights.count(name)) continue;
      const std::string user = id < plan.first_use.size() && !plan.first_use[id].empty() ? plan.first_use[id] : "an op";
      OD_FAIL(user + " names `" + name + "`, which is neither a plan buffer nor a weight of this rank's stage",
              "the plan and the runtime disagree on its buffers; recompile the plan");
    }
    by_id_[id] = found;
  }

  // This rank's group on every key the mesh keeps groups for, then on every mesh axis and `sequence` it does not
  // (compiler/lower/mesh.ts groupOf: the ranks sharing every other coordinate, in combined-coordinate order, which
  // is the rank alone on a degree-1 axis). A key whose groups leave this rank out stays absent: group() fails.
  for (const auto& [axis, list] : plan.mesh.groups) {
    for (const std::vector<int>& g : list) {
      if (std::find(g.begin(), g.end(), rank) != g.end()) {
        groups_[axis] = g;
        break;
      }
    }
  }
  std::vector<std::string> keys;
  for (const MeshAxis& a : plan.mesh.axes) keys.push_back(a.name);
  keys.push_back("sequence");
  for (const std::string& key : keys) {
    if (plan.mesh.groups.count(key)) continue;
    std::vector<const MeshAxis*> along;
    for (const MeshAxis& a : plan.mesh.axes)
      if (a.name == key || (key == "sequence" && is_sequence_axis(a.name))) along.push_back(&a);
    int64_t base = rank;
    for (const MeshAxis* a : along) base -= (rank / a->stride % a->degree) * a->stride;
    std::vector<int> members{static_cast<int>(base)};
    for (const MeshAxis* a : along) {
      std::vector<int> next;
      for (int64_t c = 0; c < a->degree; c++)
        for (int m : members) next.push_back(static_cast<int>(m + c * a->stride));
      members = std::move(next);
    }
    groups_[key] = std::move(members);
  }
}

const std::vector<int>& Memory::group(const std::string& axis, const std::string& where) const {
  auto it = groups_.find(axis);
  if (it != groups_.end()) return it->second;
  OD_CHECK(!plan_->mesh.groups.count(axis),
           where + ": the plan's " + axis + " groups do not contain rank " + std::to_string(rank_),
           "the plan's mesh is inconsistent; recompile it");
  OD_FAIL(where + ": `" + axis + "` is neither an axis of the plan's mesh nor `sequence`", "the plan names an unknown group axis; recompile it");
}

void Memory::need_staging(int64_t bytes) {
  OD_CHECK(scratch_threads_ == 0, "staging was declared after it was allocated", "declare it in the op's check");
  staging_bytes_ = std::max(staging_bytes_, bytes);
}

int64_t Memory::coord(const std::string& axis) const {
  const auto& coords = plan_->mesh.ranks[static_cast<size_t>(rank_)].coords;
  auto it = coords.find(axis);
  return it == coords.end() ? 0 : it->second;
}

int64_t Memory::shard_index(const std::string& axis, int64_t parts, const std::string& where) const {
  const auto& coords = plan_->mesh.ranks[static_cast<size_t>(rank_)].coords;
  int64_t index = 0;
  if (axis == "sequence") {
    // The combined sequence coordinate, innermost axis fastest in the mesh's order (mesh.axes is innermost first).
    int64_t stride = 1;
    for (const MeshAxis& a : plan_->mesh.axes) {
      if (!is_sequence_axis(a.name)) continue;
      auto it = coords.find(a.name);
      index += (it == coords.end() ? 0 : it->second) * stride;
      stride *= a.degree;
    }
  } else {
    auto it = coords.find(axis);
    OD_CHECK(it != coords.end(), where + ": the rank has no coordinate on " + axis, "");
    index = it->second;
  }
  OD_CHECK(index >= 0 && index < parts,
           where + ": the rank's index " + std::to_string(index) + " on " + axis + " is not one of its " +
               std::to_string(parts) + " parts",
           "");
  return index;
}

const Slot& Memory::slot(BufRef ref) const {
  OD_CHECK(ref.id >= 0 && static_cast<size_t>(ref.id) < by_id_.size(),
           "buffer reference " + std::to_string(ref.id) + " is not a name of the plan", "a plan parser defect");
  const Slot* s = by_id_[static_cast<size_t>(ref.id)];
  OD_CHECK(s, "`" + plan_->name_of(ref) + "` is a weight of another pipeline stage, not loaded on rank " +
                  std::to_string(rank_) + " (stage " + std::to_string(stage()) + ")",
           "");
  return *s;
}

float* Memory::f32(BufRef ref) const {
  const Slot& s = slot(ref);
  OD_CHECK(!s.is_int, "`" + *s.name + "` is an i32 buffer where a float one is needed", "");
  return s.f;
}

int32_t* Memory::i32(BufRef ref) const {
  const Slot& s = slot(ref);
  OD_CHECK(s.is_int, "`" + *s.name + "` is a float " + (s.is_weight ? "weight" : "buffer") + " where an i32 buffer is needed", "");
  return s.i;
}

const Slot* Memory::find(const std::string& name) const {
  // Linear: only inputs, outputs, captures and binding look names up, never the step loop.
  for (const Slot& s : buffer_slots_)
    if (*s.name == name) return &s;
  return nullptr;
}

void Memory::need_scratch(int64_t floats_per_thread) {
  OD_CHECK(scratch_threads_ == 0, "scratch was declared after it was allocated", "declare it in the op's check");
  scratch_floats_ = std::max(scratch_floats_, floats_per_thread);
}

void Memory::allocate_scratch(int threads) {
  // Each thread's part starts on its own cache line (16 floats), so threads never share one.
  scratch_floats_ = (scratch_floats_ + 15) / 16 * 16;
  scratch_threads_ = std::max(threads, 1);
  scratch_.assign(static_cast<size_t>(scratch_floats_ * scratch_threads_), 0.0f);
  staging_.assign(static_cast<size_t>((staging_bytes_ + 7) / 8), 0.0);
}

float* Memory::scratch(int thread) const {
  OD_CHECK(thread >= 0 && thread < scratch_threads_,
           "scratch of thread " + std::to_string(thread) + " asked for, but it was allocated for " +
               std::to_string(scratch_threads_) + " threads",
           "");
  return const_cast<float*>(scratch_.data()) + static_cast<size_t>(thread) * static_cast<size_t>(scratch_floats_);
}

}  // namespace od
