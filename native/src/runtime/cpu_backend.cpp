// The CPU backend (runtime/backend.h): the ops compute in the host Memory itself (cpu/ops.h), so preparing and
// uploading are no-ops, a download is a copy out of the arena, and nothing is ever queued. Also the build's
// answer about the CUDA backend: built or not (build_info.h), and, in a build without it, a make_cuda_backend
// that fails with the configure step's reason.
#include <cstring>
#include <memory>
#include <string>

#include "build_info.h"
#include "core/error.h"
#include "cpu/ops.h"
#include "runtime/backend.h"

namespace od {
namespace {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  // The interpreter already ran cpu::check_op on every op: the CPU backend needs nothing more.
  void check_op(const Op&, Memory&) override {}
  void prepare(Memory&) override {}
  void upload_inputs(Memory&, bool) override {}
  void run_op(const Op& op, Memory& mem) override { cpu::run_op(op, mem); }
  void download(const Memory&, const Slot& slot, float* out) override {
    if (slot.is_int) {
      for (int64_t i = 0; i < slot.count; i++) out[i] = static_cast<float>(slot.i[i]);
    } else {
      std::memcpy(out, slot.f, static_cast<size_t>(slot.count) * sizeof(float));
    }
  }
  void synchronize() override {}
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

bool cuda_backend_built() { return OPENDIT_CUDA_BUILT != 0; }

const char* cuda_backend_reason() { return OPENDIT_CUDA_REASON; }

#if !OPENDIT_CUDA_BUILT
std::unique_ptr<Backend> make_cuda_backend(int) {
  OD_FAIL(std::string("this build of opendit has no CUDA backend: ") + OPENDIT_CUDA_REASON,
          "run with --backend cpu, or rebuild where nvcc, the CUDA runtime and cuBLASLt are found");
}
#endif

}  // namespace od
