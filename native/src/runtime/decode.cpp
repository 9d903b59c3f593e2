// The VAE decode executor (runtime/decode.h): plan.decode run as a plan of its own on a fresh memory and backend,
// pass by pass, the passes' pixels placed, blended or gathered into the `video` output.
#include "runtime/decode.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "checkpoint/weights.h"
#include "comm/communicator.h"
#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"
#include "runtime/backend.h"
#include "runtime/memory.h"

namespace od {
namespace {

// The op kinds of the decode program that the CUDA backend has no kernel for yet (cuda/ dispatches none of
// them): a CUDA run with a decode fails before its steps, naming the first op that needs one.
WeightsSource weights_source(const PlanDecode& d, const RunOptions& options) {
  if (options.decode_weights) return *options.decode_weights;
  WeightsSource source;
  if (d.checkpoint == "random") {
    source.random = true;
    source.seed = d.weights_seed;
    return source;
  }
  OD_CHECK(!d.checkpoint.empty(), "the plan decodes with " + d.vae + " but names no checkpoint for it",
           "give the pipeline's vae.checkpoint (a safetensors file, or random), or run without decoding (latents only)");
  source.path = d.checkpoint;
  return source;
}

// plan.decode as a Plan of its own, so Memory, the CPU checks and the backends serve it unchanged: its buffers,
// arena, weights and names, its program as the setup program, the run's mesh (plan.mesh.groups.decode holds the
// patch split's groups), and `input` as the plan's one input (the backends upload it when asked).
Plan decode_plan(const Plan& plan) {
  const PlanDecode& d = *plan.decode;
  Plan p;
  p.hash = plan.hash;
  p.name = plan.name;
  p.model = plan.model;
  p.geometry = plan.geometry;
  p.mesh = plan.mesh;
  p.solver = plan.solver;
  p.weights = d.weights;
  p.buffers = d.buffers;
  p.arena_bytes = d.arena_bytes;
  PlanInput input;
  input.buffer = d.input;
  input.first = 0;
  input.count = d.frames_per_pass;
  input.source = "noise";
  p.inputs.push_back(input);
  p.setup = d.program;
  p.names = d.names;
  p.first_use = d.first_use;
  return p;
}

std::unique_ptr<Backend> make_backend(const RunOptions& options) {
  if (options.backend == "cuda") return make_cuda_backend(options.device);
  OD_CHECK(options.backend == "cpu", "there is no backend `" + options.backend + "`", "the backends are cpu and cuda");
  return make_cpu_backend();
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// "decode op 12 (conv2d): " before a message that does not name the op already.
template <class F>
void in_decode_op(const Op& op, F&& run) {
  try {
    run();
  } catch (const std::exception& e) {
    const std::string what = e.what();
    if (what.find("op " + std::to_string(op.id) + " (") != std::string::npos) throw Error(what);
    throw Error("decode " + describe_op(op) + ": " + what);
  }
}

// Weights of a linear ramp over `ramp` pixels at each end of a span of `size` pixels that lies inside the image
// (`low`, `high`: that end is an edge shared with a neighbouring tile): (d + 0.5) / ramp at distance d, at most 1.
std::vector<double> ramp_weights(int64_t size, int64_t ramp, bool low, bool high) {
  std::vector<double> w(static_cast<size_t>(size), 1.0);
  if (ramp <= 0) return w;
  for (int64_t i = 0; i < size; i++) {
    double v = 1.0;
    if (low) v = std::min(v, (static_cast<double>(i) + 0.5) / static_cast<double>(ramp));
    if (high) v = std::min(v, (static_cast<double>(size - i) - 0.5) / static_cast<double>(ramp));
    w[static_cast<size_t>(i)] = v;
  }
  return w;
}

// A decode capture resolved before the passes.
struct DecodeCapture {
  size_t op_index = 0;
  const Slot* slot = nullptr;
  std::vector<float>* storage = nullptr;
  size_t next = 0;
};

}  // namespace

void check_decode(const Plan& plan, const RunOptions& options) {
  if (!plan.decode) return;
  const PlanDecode& d = *plan.decode;
  if (std::find(d.ranks.begin(), d.ranks.end(), options.rank) == d.ranks.end()) return;
  (void)weights_source(d, options);
}

void run_decode(const Plan& plan, const RunOptions& options, RunResult& result, const std::function<void(int, int)>& progress,
                const std::atomic<bool>* cancel) {
  const PlanDecode& d = *plan.decode;
  const int rank = options.rank;
  if (std::find(d.ranks.begin(), d.ranks.end(), rank) == d.ranks.end()) return;
  const char* hint = "the plan's decode is inconsistent; recompile the plan with this version of opendit";

  // ---- the final latent this rank holds: [samples, C, T, h, w] ----
  const OutputTensor* latent = nullptr;
  for (const OutputTensor& t : result.outputs)
    if (t.name == "latents") latent = &t;
  OD_CHECK(latent, "rank " + std::to_string(rank) + " decodes (plan.decode.ranks) but holds no final latent (no `latents` output)",
           "only PipeFusion's last stage holds the final latent; a decode split over stages needs the latent sent to every member");
  const std::vector<int64_t> latent_shape{d.samples, d.channels, d.frames, d.height, d.width};
  OD_CHECK(latent->shape == latent_shape,
           "the final latent is " + shape_text(latent->shape) + ", but plan.decode decodes " + shape_text(latent_shape) + " (samples, C, T, h, w)", hint);

  // ---- the passes: the input each reads, the output it writes ----
  const DecodeSplit& split = d.split;
  const bool tiled = split.kind == "tiled", patch = split.kind == "patch";
  const int64_t h_in = tiled ? split.tile_height : patch ? d.height / split.parts : d.height;
  const int64_t w_in = tiled ? split.tile_width : d.width;
  OD_CHECK(d.image_height % d.height == 0 && d.image_width % d.width == 0 && d.image_height / d.height == d.image_width / d.width,
           "plan.decode's image " + std::to_string(d.image_height) + "x" + std::to_string(d.image_width) + " is not one integer factor of its latent " +
               std::to_string(d.height) + "x" + std::to_string(d.width),
           hint);
  const int64_t factor = d.image_height / d.height;
  const int64_t fpp = d.frames_per_pass, T = d.frames, C = d.channels, H = d.image_height, W = d.image_width;
  const int64_t Ho = factor * h_in, Wo = factor * w_in;
  const int64_t chunks = (T + fpp - 1) / fpp;
  const int64_t tiles = tiled ? static_cast<int64_t>(split.rows.size() * split.cols.size()) : 1;
  if (tiled) {
    // Every image pixel in some tile (else its blend weights would sum to 0): starts ascending from 0, each tile
    // reaching the next, the last the edge.
    const auto covers = [](const std::vector<int64_t>& starts, int64_t tile, int64_t size) {
      if (starts.empty() || starts.front() != 0 || starts.back() + tile != size) return false;
      for (size_t i = 1; i < starts.size(); i++)
        if (starts[i] <= starts[i - 1] || starts[i] > starts[i - 1] + tile) return false;
      return true;
    };
    OD_CHECK(covers(split.rows, split.tile_height, d.height) && covers(split.cols, split.tile_width, d.width),
             "plan.decode's tiles (rows starting at " + shape_text(split.rows) + ", columns at " + shape_text(split.cols) + ", " +
                 std::to_string(split.tile_height) + "x" + std::to_string(split.tile_width) + ") do not cover the latent " + std::to_string(d.height) +
                 "x" + std::to_string(d.width) + " edge to edge",
             hint);
  }
  OD_CHECK(d.passes == chunks * tiles,
           "plan.decode runs " + std::to_string(d.passes) + " passes per sample, but " + std::to_string(T) + " frames " + std::to_string(fpp) +
               " at a time over " + std::to_string(tiles) + " tiles take " + std::to_string(chunks * tiles),
           hint);

  // ---- memory and backend (the DiT's are released by now) ----
  const WeightsSource source = weights_source(d, options);
  LoadedWeights weights;
  with_context("the VAE's weights (" + d.vae + ")", [&] { weights = load_decode_weights(d, source); });
  const Plan dplan = decode_plan(plan);
  Memory mem(dplan, std::move(weights), rank);
  std::unique_ptr<Backend> backend = make_backend(options);  // destroyed before the memory it mirrors
  backend->set_run_controls(options.collective_timeout_ms, cancel, 0);  // the decode runs no steps
  mem.set_comm(options.comm);
  const Slot* input = mem.find(d.input);
  const Slot* output = mem.find(d.output);
  OD_CHECK(input && output, "plan.decode's input `" + d.input + "` or output `" + d.output + "` is not one of its buffers", hint);
  const std::vector<int64_t> input_shape{fpp, h_in, w_in, C}, output_shape{fpp, Ho, Wo, 3};
  OD_CHECK(input->shape == input_shape && !input->is_int,
           "plan.decode's input `" + d.input + "` is " + shape_text(input->shape) + ", not the pass's " + shape_text(input_shape), hint);
  OD_CHECK(output->shape == output_shape && !output->is_int,
           "plan.decode's output `" + d.output + "` is " + shape_text(output->shape) + ", not the pass's " + shape_text(output_shape), hint);
  for (const Op& op : d.program) in_decode_op(op, [&] { cpu::check_op(op, mem); });
  for (const Op& op : d.program) in_decode_op(op, [&] { backend->check_op(op, mem); });
  mem.allocate_scratch(thread_count());

  std::vector<int> group{rank};
  size_t me = 0;
  if (patch) {
    group = mem.group(split.axis, "plan.decode's patch split");
    while (me < group.size() && group[me] != rank) me++;
    OD_CHECK(me < group.size() && static_cast<int64_t>(group.size()) == split.parts,
             "the " + split.axis + " group of rank " + std::to_string(rank) + " has " + std::to_string(group.size()) + " ranks, but the latent is split in " +
                 std::to_string(split.parts) + " bands",
             hint);
    OD_CHECK(group.size() == 1 || options.comm, "a decode split over " + std::to_string(group.size()) + " ranks needs a communicator",
             "run every rank of the plan's mesh with a transport");
  }
  const bool returns_video = !patch || me == 0;

  // ---- captures of decode ops, every pass ----
  const int64_t total = d.samples * d.passes;
  std::vector<DecodeCapture> captures;
  std::vector<std::vector<DecodeCapture*>> captures_after(d.program.size());
  for (size_t c = 0; c < options.captures.size(); c++) {
    const CaptureSpec& spec = options.captures[c];
    if (spec.program != "decode") continue;
    size_t k = 0;
    while (k < d.program.size() && d.program[k].id != spec.op_id) k++;
    OD_CHECK(k < d.program.size(), "capture " + std::to_string(c) + ": the decode program has no op " + std::to_string(spec.op_id), "");
    const Slot* slot = mem.find(spec.buffer);
    OD_CHECK(slot && !slot->is_weight, "capture " + std::to_string(c) + ": plan.decode has no buffer `" + spec.buffer + "`", "");
    result.captures[c].assign(static_cast<size_t>(total * slot->count), 0.0f);
    captures.push_back(DecodeCapture{k, slot, &result.captures[c], 0});
  }
  for (DecodeCapture& c : captures) captures_after[c.op_index].push_back(&c);

  backend->prepare(mem);

  // ---- host storage, all allocated before the passes ----
  std::vector<float> video(returns_video ? static_cast<size_t>(d.samples * 3 * T * H * W) : 0);
  std::vector<float> pixels(static_cast<size_t>(fpp * Ho * Wo * 3));
  std::vector<float> band(patch && me == 0 ? pixels.size() : 0);
  std::vector<double> acc(tiled ? static_cast<size_t>(3 * fpp * H * W) : 0), weight_sum(tiled ? static_cast<size_t>(H * W) : 0);
  std::vector<std::vector<double>> row_ramps, col_ramps;
  if (tiled) {
    const int64_t ramp = factor * split.overlap;
    for (int64_t r0 : split.rows) row_ramps.push_back(ramp_weights(Ho, ramp, r0 > 0, r0 + split.tile_height < d.height));
    for (int64_t c0 : split.cols) col_ramps.push_back(ramp_weights(Wo, ramp, c0 > 0, c0 + split.tile_width < d.width));
  }
  const std::string gather_what = "the decode's bands gathered to rank " + std::to_string(group[0]) + " over the " + split.axis + " group";
  const std::string output_what = "decode output " + d.output;
  const float* z = latent->data.data();
  float* in = input->f;
  const double scale = d.scale;

  int done = 0;
  for (int64_t s = 0; s < d.samples; s++) {
    for (int64_t chunk = 0; chunk < chunks; chunk++) {
      const int64_t t0 = chunk * fpp, nf = std::min(fpp, T - t0);
      if (tiled) {
        std::fill(acc.begin(), acc.end(), 0.0);
        std::fill(weight_sum.begin(), weight_sum.end(), 0.0);
      }
      for (int64_t tile = 0; tile < tiles; tile++) {
        const size_t ti = tiled ? static_cast<size_t>(tile) / split.cols.size() : 0, tj = tiled ? static_cast<size_t>(tile) % split.cols.size() : 0;
        const int64_t r0 = tiled ? split.rows[ti] : patch ? static_cast<int64_t>(me) * h_in : 0;
        const int64_t c0 = tiled ? split.cols[tj] : 0;
        // input[f, y, x, c] = latent[s, c, t0 + f, r0 + y, c0 + x] / scale; frames past the last are zeros.
        std::fill(in, in + input->count, 0.0f);
        for (int64_t f = 0; f < nf; f++)
          for (int64_t y = 0; y < h_in; y++)
            for (int64_t x = 0; x < w_in; x++)
              for (int64_t c = 0; c < C; c++)
                in[((f * h_in + y) * w_in + x) * C + c] =
                    static_cast<float>(static_cast<double>(z[(((s * C + c) * T + t0 + f) * d.height + r0 + y) * d.width + c0 + x]) / scale);
        backend->upload_inputs(mem, false);
        for (size_t k = 0; k < d.program.size(); k++) {
          const Op& op = d.program[k];
          if (cancel && cancel->load(std::memory_order_relaxed)) throw Error("cancelled");
          in_decode_op(op, [&] {
            backend->run_op(op, mem);
            for (DecodeCapture* c : captures_after[k]) {
              backend->download(mem, *c->slot, c->storage->data() + c->next);
              c->next += static_cast<size_t>(c->slot->count);
            }
          });
        }
        with_context(output_what, [&] { backend->download(mem, *output, pixels.data()); });

        // pixels[f, y, x, ch] (NHWC) -> video[s, ch, t0 + f, y0 + y, x0 + x]
        const auto place = [&](const float* from, int64_t y0) {
          for (int64_t ch = 0; ch < 3; ch++)
            for (int64_t f = 0; f < nf; f++)
              for (int64_t y = 0; y < Ho; y++) {
                float* row = video.data() + (((s * 3 + ch) * T + t0 + f) * H + y0 + y) * W;
                for (int64_t x = 0; x < Wo; x++) row[x] = from[((f * Ho + y) * Wo + x) * 3 + ch];
              }
        };
        if (tiled) {
          const std::vector<double>& wy = row_ramps[ti];
          const std::vector<double>& wx = col_ramps[tj];
          const int64_t y0 = factor * r0, x0 = factor * c0;
          for (int64_t y = 0; y < Ho; y++)
            for (int64_t x = 0; x < Wo; x++) weight_sum[static_cast<size_t>((y0 + y) * W + x0 + x)] += wy[static_cast<size_t>(y)] * wx[static_cast<size_t>(x)];
          for (int64_t ch = 0; ch < 3; ch++)
            for (int64_t f = 0; f < nf; f++)
              for (int64_t y = 0; y < Ho; y++) {
                double* row = acc.data() + ((ch * fpp + f) * H + y0 + y) * W + x0;
                const double wr = wy[static_cast<size_t>(y)];
                for (int64_t x = 0; x < Wo; x++)
                  row[x] += wr * wx[static_cast<size_t>(x)] * static_cast<double>(pixels[static_cast<size_t>(((f * Ho + y) * Wo + x) * 3 + ch)]);
              }
        } else if (patch && me > 0) {
          const int64_t bytes = nf * Ho * Wo * 3 * static_cast<int64_t>(sizeof(float));
          options.comm->send(group[0], kCollectiveChannel, pixels.data(), bytes, gather_what);
        } else {
          place(pixels.data(), 0);
          // The group's first member: every other member's band of this pass, in member order.
          for (size_t j = 1; j < group.size(); j++) {
            const int64_t bytes = nf * Ho * Wo * 3 * static_cast<int64_t>(sizeof(float));
            options.comm->recv(group[j], kCollectiveChannel, band.data(), bytes, gather_what);
            place(band.data(), static_cast<int64_t>(j) * Ho);
          }
        }
        progress(++done, static_cast<int>(total));
      }
      if (tiled) {
        for (int64_t ch = 0; ch < 3; ch++)
          for (int64_t f = 0; f < nf; f++)
            for (int64_t y = 0; y < H; y++) {
              float* row = video.data() + (((s * 3 + ch) * T + t0 + f) * H + y) * W;
              const double* a = acc.data() + ((ch * fpp + f) * H + y) * W;
              const double* ws = weight_sum.data() + y * W;
              for (int64_t x = 0; x < W; x++) row[x] = static_cast<float>(a[x] / ws[x]);
            }
      }
    }
  }
  backend->synchronize();
  if (returns_video) result.outputs.push_back(OutputTensor{"video", {d.samples, 3, T, H, W}, std::move(video)});
}

}  // namespace od
