// A plan's weights in fp32 host memory: the C++ side of checkpoint/random.ts + checkpoint/init.ts (random weights,
// bit for bit what `opendit checkpoint random` writes) and of checkpoint/check.ts (a file judged against the
// plan's weight table, every problem reported at once, in the same order and words). Everything lands in one
// std::vector<float> so the backends upload or bind a single block. The VAE decoder's weights (plan.decode) load
// the same way, but a file tensor may carry the weight's name or one of its aliases (the original LDM names) with
// a shape equal up to trailing 1s, and the file's other tensors (the encoder's) are not read.
#include "checkpoint/weights.h"

#include <cmath>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "checkpoint/generator.h"
#include "checkpoint/safetensors.h"
#include "core/error.h"
#include "core/parallel.h"

namespace od {

namespace {

// init.ts's TensorInit: value = offset + scale * z (offset 0 or 1).
struct Init {
  double scale = 0.02;
  bool plus_one = false;
};

constexpr double WEIGHT_STD = 0.02;

// init.ts initFor: the first rule that matches, from the name's last two `.` components.
Init init_for(const std::string& name, const std::vector<int64_t>& shape) {
  // name.split("."): `last` after the last dot, `before` between the two last dots ("" with no dot).
  const size_t dot = name.rfind('.');
  const std::string last = dot == std::string::npos ? name : name.substr(dot + 1);
  std::string before;
  if (dot != std::string::npos) {
    const size_t dot2 = dot == 0 ? std::string::npos : name.rfind('.', dot - 1);
    before = dot2 == std::string::npos ? name.substr(0, dot) : name.substr(dot2 + 1, dot - dot2 - 1);
  }
  if (last == "weight" && before.find("norm") != std::string::npos) return {WEIGHT_STD, true};
  if (last == "bias") return {WEIGHT_STD, false};
  if (last == "scale_shift_table" || last == "y_embedding") {
    const int64_t d = shape.empty() ? 1 : shape.back();
    // 1 / Math.sqrt(Math.max(d, 1)): both correctly rounded, the same bits as in JavaScript.
    return {1.0 / std::sqrt(static_cast<double>(d > 1 ? d : 1)), false};
  }
  return {WEIGHT_STD, false};
}

// init.ts applyInit, the same operations in the same order.
inline double apply(const Init& init, double z) { return init.plus_one ? 1 + init.scale * z : init.scale * z; }

int64_t element_count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); i++) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

bool reads_stage(const PlanWeight& w, int64_t stage) {
  if (w.stages.empty()) return true;
  for (int64_t s : w.stages)
    if (s == stage) return true;
  return false;
}

// check.ts checkCheckpoint + describeProblem, over every plan weight (of any stage, so every rank judges the
// file alike): expected tensors first in plan order, then unexpected ones in file (offset) order.
std::vector<std::string> check_file(const Plan& plan, const SafetensorsFile& file, const std::vector<std::string>& ignore) {
  std::unordered_map<std::string, const SafetensorsEntry*> in_file;
  for (const SafetensorsEntry& t : file.tensors()) in_file.emplace(t.name, &t);
  std::unordered_set<std::string> wanted;
  std::vector<std::string> problems;
  for (const PlanWeight& w : plan.weights) {
    wanted.insert(w.name);
    const auto it = in_file.find(w.name);
    if (it == in_file.end()) {
      problems.push_back("missing tensor `" + w.name + "` (expected shape " + format_shape(w.shape) + ")");
      continue;
    }
    const SafetensorsEntry& t = *it->second;
    if (t.shape != w.shape)
      problems.push_back("tensor `" + w.name + "` has shape " + format_shape(t.shape) + ", expected " + format_shape(w.shape));
    else if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16")
      problems.push_back("tensor `" + w.name + "` has dtype " + t.dtype + "; weights must be F32, F16, BF16");
  }
  const std::unordered_set<std::string> skip(ignore.begin(), ignore.end());
  for (const SafetensorsEntry& t : file.tensors())
    if (!wanted.count(t.name) && !skip.count(t.name)) problems.push_back("unexpected tensor `" + t.name + "` " + format_shape(t.shape));
  return problems;
}

}  // namespace

double random_init_value(const std::string& name, const std::vector<int64_t>& shape, double z) {
  return apply(init_for(name, shape), z);
}

namespace {

// random.ts encodes a 16-bit checkpoint by rounding the fp32 values again; doing the same here makes a bf16/fp16
// plan's random weights equal to those of a random file of that dtype.
float round_to(DType dtype, float v) {
  if (dtype == DType::BF16) return bf16_to_f32(f32_to_bf16(v));
  if (dtype == DType::F16) return f16_to_f32(f32_to_f16(v));
  return v;
}

// One block holding every weight of `needed`, in order, zeroed.
LoadedWeights allocate(const std::vector<const PlanWeight*>& needed) {
  LoadedWeights out;
  int64_t total = 0;
  for (const PlanWeight* w : needed) total += element_count(w->shape);
  out.storage.resize(static_cast<size_t>(total));
  int64_t offset = 0;
  for (const PlanWeight* w : needed) {
    LoadedWeight lw;
    lw.name = w->name;
    lw.shape = w->shape;
    lw.count = element_count(w->shape);
    lw.data = out.storage.data() + offset;
    offset += lw.count;
    out.weights.push_back(std::move(lw));
  }
  return out;
}

// checkpoint: random, by each weight's (official) name: the draws of key(seed, name) with its name's initialisation.
void fill_random(const std::vector<const PlanWeight*>& needed, uint64_t seed, LoadedWeights& out) {
  for (size_t i = 0; i < needed.size(); i++) {
    const PlanWeight& w = *needed[i];
    LoadedWeight& lw = out.weights[i];
    const Init init = init_for(w.name, w.shape);
    const uint64_t key = gen::key(seed, w.name);
    // The stream is counter-based (draw(key, n)), so chunks of whole Box–Muller pairs fill independently on
    // every core and give the same bits as one pass: a real-size model draws in seconds, not a minute.
    const int64_t pairs = (lw.count + 1) / 2;
    parallel_for(pairs, 1 << 14, [&](int64_t begin, int64_t end, int) {
      for (int64_t j = begin; j < end; j++) {
        double z0, z1;
        gen::box_muller(gen::draw(key, static_cast<uint64_t>(2 * j)), gen::draw(key, static_cast<uint64_t>(2 * j + 1)), &z0, &z1);
        lw.data[2 * j] = round_to(w.dtype, static_cast<float>(apply(init, z0)));
        if (2 * j + 1 < lw.count) lw.data[2 * j + 1] = round_to(w.dtype, static_cast<float>(apply(init, z1)));
      }
    });
  }
}

// "; "-joined problems, at most 20 of them (a wrong file shows as dozens), and how many.
std::string problem_list(const std::vector<std::string>& problems, std::string* count) {
  constexpr size_t SHOWN = 20;
  std::string list;
  for (size_t i = 0; i < problems.size() && i < SHOWN; i++) list += (i ? "; " : "") + problems[i];
  if (problems.size() > SHOWN) list += "; and " + std::to_string(problems.size() - SHOWN) + " more";
  *count = std::to_string(problems.size()) + (problems.size() == 1 ? " problem" : " problems");
  return list;
}

// A shape without its trailing 1s: [512, 512, 1, 1] and [512, 512] are the same tensor's.
std::vector<int64_t> without_trailing_ones(std::vector<int64_t> shape) {
  while (!shape.empty() && shape.back() == 1) shape.pop_back();
  return shape;
}

}  // namespace

LoadedWeights load_weights(const Plan& plan, const WeightsSource& source, int64_t stage) {
  std::vector<const PlanWeight*> needed;
  for (const PlanWeight& w : plan.weights)
    if (reads_stage(w, stage)) needed.push_back(&w);
  LoadedWeights out = allocate(needed);

  if (source.random) {
    fill_random(needed, source.seed, out);
    return out;
  }

  const SafetensorsFile file(source.path);
  const std::vector<std::string> problems = check_file(plan, file, source.ignore);
  if (!problems.empty()) {
    // Every problem at once (a wrong variant shows as dozens of shapes), but a bounded message.
    std::string count;
    const std::string list = problem_list(problems, &count);
    std::string model = plan.model.family;
    if (!plan.model.variant.empty()) model += " " + plan.model.variant;
    OD_FAIL("the checkpoint " + source.path + " does not fit the plan (" + count + "): " + list,
            model.empty() ? "" : "the plan is for " + model + "; is the checkpoint of that family and size?");
  }
  std::unordered_map<std::string, const SafetensorsEntry*> by_name;
  for (const SafetensorsEntry& t : file.tensors()) by_name.emplace(t.name, &t);
  for (size_t i = 0; i < needed.size(); i++) file.read_f32(*by_name.at(needed[i]->name), out.weights[i].data);
  return out;
}

LoadedWeights load_decode_weights(const PlanDecode& decode, const WeightsSource& source) {
  std::vector<const PlanWeight*> needed;
  for (const PlanWeight& w : decode.weights) needed.push_back(&w);
  LoadedWeights out = allocate(needed);
  if (source.random) {
    fill_random(needed, source.seed, out);
    return out;
  }

  const SafetensorsFile file(source.path);
  std::unordered_map<std::string, const SafetensorsEntry*> in_file;
  for (const SafetensorsEntry& t : file.tensors()) in_file.emplace(t.name, &t);
  std::vector<const SafetensorsEntry*> found(needed.size(), nullptr);
  std::vector<std::string> problems;
  for (size_t i = 0; i < needed.size(); i++) {
    const PlanWeight& w = *needed[i];
    const SafetensorsEntry* t = nullptr;
    auto it = in_file.find(w.name);
    if (it != in_file.end()) t = it->second;
    for (size_t a = 0; !t && a < w.aliases.size(); a++) {
      it = in_file.find(w.aliases[a]);
      if (it != in_file.end()) t = it->second;
    }
    if (!t) {
      std::string also;
      for (const std::string& a : w.aliases) also += (also.empty() ? " (nor `" : ", `") + a + "`";
      if (!also.empty()) also += ")";
      problems.push_back("missing tensor `" + w.name + "`" + also + " (expected shape " + format_shape(w.shape) + ")");
    } else if (without_trailing_ones(t->shape) != without_trailing_ones(w.shape)) {
      problems.push_back("tensor `" + t->name + "` has shape " + format_shape(t->shape) + ", expected " + format_shape(w.shape));
    } else if (t->dtype != "F32" && t->dtype != "F16" && t->dtype != "BF16") {
      problems.push_back("tensor `" + t->name + "` has dtype " + t->dtype + "; weights must be F32, F16, BF16");
    } else {
      found[i] = t;
    }
  }
  if (!problems.empty()) {
    std::string count;
    const std::string list = problem_list(problems, &count);
    OD_FAIL("the VAE checkpoint " + source.path + " does not fit the plan's " + decode.vae + " decoder (" + count + "): " + list,
            "the decoder reads diffusers AutoencoderKL names (decoder.up_blocks.0...) or the original LDM names (decoder.up.3...); "
            "is the file that VAE's?");
  }
  for (size_t i = 0; i < needed.size(); i++) file.read_f32(*found[i], out.weights[i].data);
  return out;
}

}  // namespace od
