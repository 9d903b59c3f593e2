// The run's inputs into the plan's input buffers: runtime/reference/inputs.ts fillInputs / fillTimestep, line for
// line, plus the initial noise drawn from the run's seed when the caller gives none (runtime/inputs.h).
#include "runtime/inputs.h"

#include <cmath>
#include <string>

#include "checkpoint/generator.h"
#include "core/error.h"

namespace od {
namespace {

// inputs.ts describe(): how messages name an entry.
std::string describe(const PlanInput& input) {
  return "input " + input.source + " of buffer " + input.buffer + " (rows " + std::to_string(input.first) + ".." +
         std::to_string(input.first + input.count - 1) + ")";
}

// A JavaScript Int32Array store (ToInt32) of a finite value: truncation toward zero, wrapped modulo 2^32.
int32_t to_int32(double v) {
  if (!std::isfinite(v)) return 0;
  double t = std::fmod(std::trunc(v), 4294967296.0);
  if (t < 0) t += 4294967296.0;
  return static_cast<int32_t>(static_cast<uint32_t>(t));
}

// The entry's buffer, its rows checked (inputs.ts bufferOf).
struct Target {
  const Slot* slot = nullptr;
  int64_t row_size = 0;
};

Target target_of(const Memory& mem, const PlanInput& input) {
  const PlanBuffer* spec = nullptr;
  for (const PlanBuffer& b : mem.plan().buffers)
    if (b.name == input.buffer) {
      spec = &b;
      break;
    }
  const Slot* slot = mem.find(input.buffer);
  OD_CHECK(spec && slot && !slot->is_weight, describe(input) + ": the plan has no buffer " + input.buffer, "");
  const int64_t rows = spec->shape.empty() ? 1 : spec->shape[0];
  OD_CHECK(input.first >= 0 && input.count >= 0 && input.first + input.count <= rows,
           describe(input) + ": the buffer has " + std::to_string(rows) + " rows", "");
  int64_t row_size = 1;
  for (size_t i = 1; i < spec->shape.size(); i++) row_size *= spec->shape[i];
  return {slot, row_size};
}

// Whether this rank fills the entry (inputs.ts fillsInput).
bool fills(const Memory& mem, const PlanInput& input) {
  return !input.cfg_rank || mem.coord("cfg") == *input.cfg_rank;
}

// The rank's index along the entry's sample shard (0 without one).
int64_t shard_of(const Memory& mem, const PlanInput& input) {
  if (!input.samples_shard || input.samples_shard->parts == 1) return 0;
  return mem.shard_index(input.samples_shard->axis, input.samples_shard->parts,
                         describe(input) + " (its samples are sharded on " + input.samples_shard->axis + ")");
}

// inputs.ts isNegative: the unconditional rows (cfg rank 1, or rows after the conditional ones).
bool is_negative(const PlanInput& input) { return (input.cfg_rank && *input.cfg_rank == 1) || input.first > 0; }

// The run sample row r of the entry takes (inputs.ts sampleRows): the rank's shard of `count` samples, checked
// against the run's samples.
int64_t sample_of_row(const PlanInput& input, int64_t r, int64_t samples, int64_t shard) {
  const int64_t s = shard * input.count + r;
  OD_CHECK(s < samples,
           describe(input) + ": row " + std::to_string(r) + " would take sample " + std::to_string(s) + " of " +
               std::to_string(samples),
           "");
  return s;
}

// Row r of the entry into the buffer: writes row_size values from `value(i)`.
template <class V>
void write_row(const Target& t, int64_t row, V&& value) {
  const int64_t base = row * t.row_size;
  if (t.slot->is_int) {
    for (int64_t i = 0; i < t.row_size; i++) t.slot->i[base + i] = to_int32(value(i));
  } else {
    for (int64_t i = 0; i < t.row_size; i++) t.slot->f[base + i] = static_cast<float>(value(i));
  }
}

// The run sample each row takes (inputs.ts sampleRows), checked against the given array.
template <class T>
void sample_rows(const Target& t, const PlanInput& input, const char* name, const std::vector<T>& given,
                 int64_t samples, int64_t shard) {
  OD_CHECK(!given.empty(), describe(input) + ": the run's inputs have no " + name, "");
  OD_CHECK(static_cast<int64_t>(given.size()) == samples * t.row_size,
           describe(input) + ": " + name + " holds " + std::to_string(given.size()) + " values, not " +
               std::to_string(samples) + " samples of " + std::to_string(t.row_size),
           "");
  for (int64_t r = 0; r < input.count; r++) {
    const T* src = given.data() + sample_of_row(input, r, samples, shard) * t.row_size;
    write_row(t, input.first + r, [&](int64_t i) { return static_cast<double>(src[i]); });
  }
}

// The stored null caption: the one plan weight named `y_embedding` or `….y_embedding` (inputs.ts nullCaption).
const Slot& null_caption(const Memory& mem, const PlanInput& input, int64_t row_size) {
  const std::string suffix = ".y_embedding";
  std::vector<const std::string*> names;
  for (const PlanWeight& w : mem.plan().weights) {
    const std::string& n = w.name;
    if (n == "y_embedding" || (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0))
      names.push_back(&n);
  }
  OD_CHECK(names.size() == 1,
           describe(input) + ": the plan reads " + std::to_string(names.size()) + " null-caption weights (…y_embedding), not 1", "");
  const Slot* w = mem.find(*names[0]);
  OD_CHECK(w && w->is_weight, describe(input) + ": no weight " + *names[0], "");
  OD_CHECK(w->count == row_size,
           describe(input) + ": " + *names[0] + " holds " + std::to_string(w->count) + " values, a row of " +
               input.buffer + " " + std::to_string(row_size),
           "");
  return *w;
}

}  // namespace

void initial_noise(uint64_t seed, int64_t global_sample, float* out, int64_t count) {
  const uint64_t k = gen::key(seed, "latent/" + std::to_string(global_sample));
  gen::fill_normals(k, out, count, [](int64_t, double z) { return z; });
}

void fill_inputs(Memory& mem, const RunInputs& inputs) {
  const Plan& plan = mem.plan();
  const int64_t samples = plan.geometry.samples;
  for (const PlanInput& input : plan.inputs) {
    if (input.source == "timestep" || !fills(mem, input)) continue;
    const Target t = target_of(mem, input);
    const int64_t shard = shard_of(mem, input);
    const std::string& source = input.source;
    if (source == "noise") {
      if (!inputs.noise.empty()) {
        sample_rows(t, input, "noise", inputs.noise, samples, shard);
        continue;
      }
      // No latent given: draw sample s's from the run's seed, straight into its row.
      OD_CHECK(!t.slot->is_int, describe(input) + ": the noise buffer is an i32 buffer", "a plan defect");
      for (int64_t r = 0; r < input.count; r++) {
        float* row = t.slot->f + (input.first + r) * t.row_size;
        initial_noise(inputs.noise_seed, sample_of_row(input, r, samples, shard), row, t.row_size);
      }
    } else if (source == "text") {
      if (is_negative(input))
        sample_rows(t, input, "negativeText", inputs.negative_text, samples, shard);
      else
        sample_rows(t, input, "text", inputs.text, samples, shard);
    } else if (source == "text-mask") {
      sample_rows(t, input, "textMask", inputs.text_mask, samples, shard);
    } else if (source == "null-text") {
      const Slot& w = null_caption(mem, input, t.row_size);
      for (int64_t r = 0; r < input.count; r++)
        write_row(t, input.first + r, [&](int64_t i) { return static_cast<double>(w.f[i]); });
    } else if (source == "labels") {
      sample_rows(t, input, "labels", inputs.labels, samples, shard);
    } else if (source == "null-labels") {
      const double label = static_cast<double>(plan.model.num_classes);
      for (int64_t r = 0; r < input.count; r++) write_row(t, input.first + r, [&](int64_t) { return label; });
    } else {
      OD_FAIL(describe(input) + ": unknown input source `" + source + "`",
              "sources are noise, text, text-mask, null-text, labels, null-labels and timestep");
    }
  }
}

void fill_timestep(Memory& mem, int step, const RunInputs& inputs) {
  const Plan& plan = mem.plan();
  OD_CHECK(step >= 0 && static_cast<size_t>(step) < plan.steps.size(),
           "the plan has no step " + std::to_string(step) + " (it has " + std::to_string(plan.steps.size()) + ")", "");
  const double scheduled = plan.steps[static_cast<size_t>(step)].schedule.timestep;
  for (const PlanInput& input : plan.inputs) {
    if (input.source != "timestep" || !fills(mem, input)) continue;
    const Target t = target_of(mem, input);
    const std::vector<double>& given = inputs.timestep;
    if (given.size() <= 1) {
      // One value for every row: the step table's, or the override.
      const double v = given.empty() ? scheduled : given[0];
      for (int64_t r = 0; r < input.count; r++) write_row(t, input.first + r, [&](int64_t) { return v; });
    } else {
      OD_CHECK(static_cast<int64_t>(given.size()) == input.count,
               describe(input) + ": timestep override holds " + std::to_string(given.size()) + " values, not " +
                   std::to_string(input.count),
               "");
      for (int64_t r = 0; r < input.count; r++)
        write_row(t, input.first + r, [&](int64_t) { return given[static_cast<size_t>(r)]; });
    }
  }
}

}  // namespace od
