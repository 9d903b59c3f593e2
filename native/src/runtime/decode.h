// The VAE decode executor (plan.decode; the contract .helpers/vae-contract.md, "Runtime"): after the DiT's step
// loop and its outputs, on the ranks of plan.decode.ranks, the final latent becomes the `video` output
// [samples, 3, frames, H, W] fp32 (images: frames 1, a still [samples, 3, 1, H, W]).
//
// The DiT's memory and backend are gone by then (run_plan releases them first), so peak memory is the larger of
// the two runs, not their sum. The decode gets a Memory of its own over plan.decode (its buffers, arena and
// weights, its program as a plan's setup program: the Memory, the CPU checks and the backends serve it
// unchanged) and a fresh backend of the run's kind. For each of its samples and each pass (a chunk of
// framesPerPass frames × a tile, or the rank's band), it fills `input` with the pass's latent / scale (NHWC;
// frames past the last are zeros), runs the program, downloads `output` and places the pixels:
//   whole   copied into the video;
//   tiled   accumulated with linear ramps over the overlap along both axes (a tile edge inside the image ramps
//           its weight up over 8·overlap pixels; (d + 0.5) / ramp at distance d from the edge), normalised by
//           the summed weight of each pixel so the tiles' weights sum to 1;
//   patch   each member of the decode group decodes its band of latent rows [r·h/parts, (r+1)·h/parts) (the
//           program's conv2d halos, group_norm reductions and all_gather run over the group); the group's
//           first member places its own band and receives the others' over the communicator, in member order,
//           and returns the video; the other members return none.
// Progress: {phase "decode", step: passes done, steps: samples × passes} after each pass.
#pragma once
#include <atomic>
#include <functional>

#include "plan/plan.h"
#include "runtime/interpreter.h"

namespace od {

// Before the DiT runs: fails at once when this rank's decode cannot run (the backend has no kernel for one of
// the decode's op kinds, the plan names no VAE checkpoint and none was given), instead of after the steps.
void check_decode(const Plan& plan, const RunOptions& options);

// The decode of this rank (nothing when it is not in plan.decode.ranks): reads the `latents` output of
// `result`, appends `video` to result.outputs on the rank that returns it, fills the decode captures of
// options.captures (program "decode") in result.captures. `progress(passes_done, passes)` after each pass.
void run_decode(const Plan& plan, const RunOptions& options, RunResult& result, const std::function<void(int, int)>& progress,
                const std::atomic<bool>* cancel);

}  // namespace od
