// The latent snapshots of the previews during the steps (runtime/latent_preview.h): the output `latents` resolved
// and the pool allocated before the step loop; a snapshot taken by the backend's download between steps.
#include "runtime/latent_preview.h"

#include <chrono>
#include <string>
#include <thread>

#include "core/error.h"

namespace od {

LatentPreviews::LatentPreviews(const Plan& plan, const Memory& mem, int rank, int64_t stage, int every, int steps) : every_(every) {
  OD_CHECK(every >= 1, "previewEvery must be at least 1, not " + std::to_string(every), "");
  const PlanOutput* latents = nullptr;
  for (const PlanOutput& out : plan.outputs)
    if (out.name == "latents") latents = &out;
  OD_CHECK(latents, "previewEvery: the plan has no output `latents` to preview", "previews need a plan lowered from a pipeline");
  OD_CHECK(!latents->stage || *latents->stage == stage,
           "previewEvery: rank " + std::to_string(rank) + " is on pipeline stage " + std::to_string(stage) +
               ", but the output `latents` is held by the ranks of stage " + std::to_string(*latents->stage),
           "ask for previews only on the ranks that return the outputs (runtime/launch/assemble.ts representativeRanks)");
  const PlanBuffer* spec = nullptr;
  for (const PlanBuffer& b : plan.buffers)
    if (b.name == latents->buffer) spec = &b;
  slot_ = mem.find(latents->buffer);
  OD_CHECK(spec && slot_ && !slot_->is_weight && !slot_->is_int,
           "previewEvery: the output `latents` names buffer `" + latents->buffer + "`, which the plan does not hold as a floating buffer", "");
  // No more slots than previews: a run of 4 steps previewed every 4 needs one.
  const int previews = steps / every;
  const int slots = previews < kSlots ? previews : kSlots;
  pool_.reserve(static_cast<size_t>(slots));
  for (int i = 0; i < slots; i++) {
    auto snapshot = std::make_shared<LatentSnapshot>();
    snapshot->shape = spec->shape;
    snapshot->data.assign(static_cast<size_t>(slot_->count), 0.0f);
    pool_.push_back(std::move(snapshot));
  }
}

std::shared_ptr<const LatentSnapshot> LatentPreviews::take(Backend& backend, const Memory& mem, const std::atomic<bool>* cancel) {
  OD_CHECK(!pool_.empty(), "a latent preview after step " + std::to_string(mem.step() + 1) + ", which the run was not sized for",
           "a runtime defect: due() and the pool disagree");
  for (;;) {
    for (size_t k = 0; k < pool_.size(); k++) {
      std::shared_ptr<LatentSnapshot>& snapshot = pool_[(next_ + k) % pool_.size()];
      if (snapshot.use_count() != 1) continue;
      // The last event's release of the snapshot (on the JS main thread) happens before these writes.
      std::atomic_thread_fence(std::memory_order_acquire);
      try {
        backend.download(mem, *slot_, snapshot->data.data());
      } catch (const std::exception& e) {
        throw Error("the latent preview after step " + std::to_string(mem.step() + 1) + ": " + e.what());
      }
      next_ = (next_ + k + 1) % pool_.size();
      return snapshot;
    }
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Error("cancelled");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace od
