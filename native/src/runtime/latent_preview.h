// The running latent handed to JavaScript during the steps (RunOptions::preview_every, the addon's
// request.previewEvery): after every N-th step the interpreter copies the plan's output `latents` (the buffer as
// the outputs read it: the plan buffer's shape, fp32) into a host snapshot that the step's progress event carries
// (runtime/native/addon.ts NativeProgress.latent), from which runtime/media/step-previews.ts writes the linear
// latent preview.
//
// The copy is the backend's download between steps: after the step's synchronize, never inside a step or a CUDA
// graph's capture. The host snapshots are allocated before the step loop: a pool of kSlots, each shared between
// the pool and the events that carry it. A slot is reused once no event holds it any more (the addon's progress
// call copied it into a Float32Array on the JS main thread, or dropped the event); should every slot still be held
// (the JS main thread busy for two preview intervals), the loop waits for one, polling the cancel flag, rather than
// allocate. Only the rank's own copy is counted on: events are made on the run thread only, so a use count of 1
// seen there stays 1 until the run thread copies the pointer again.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "plan/plan.h"
#include "runtime/backend.h"
#include "runtime/memory.h"

namespace od {

// The latent after a step: the output `latents` as run() returns it (shape: the plan buffer's, [samples, C, T, H, W]).
struct LatentSnapshot {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

class LatentPreviews {
 public:
  // Snapshots in the pool: one an event may still hold while the next is filled.
  static constexpr int kSlots = 2;

  // every >= 1: a snapshot after steps every, 2·every, … of the `steps` run. Fails when the plan has no output
  // `latents`, or when it is held by another pipeline stage's ranks than this rank's `stage`.
  LatentPreviews(const Plan& plan, const Memory& mem, int rank, int64_t stage, int every, int steps);

  // Whether the step that just finished (`done` steps run) is one to preview.
  bool due(int done) const { return done % every_ == 0; }

  // The latent now (after a finished step's synchronize), in a slot no event holds. Throws "cancelled" when the
  // run is cancelled while it waits for one.
  std::shared_ptr<const LatentSnapshot> take(Backend& backend, const Memory& mem, const std::atomic<bool>* cancel);

 private:
  const Slot* slot_ = nullptr;
  int every_ = 1;
  std::vector<std::shared_ptr<LatentSnapshot>> pool_;
  size_t next_ = 0;
};

}  // namespace od
