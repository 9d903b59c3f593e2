// What every CPU kernel's check_<kind> uses: require_f32 / require_i32 (cpu/ops.h) confirm that a buffer or weight
// named by an op is bound, has the element type the kernel reads, and holds at least the values the op's sizes
// imply. Checking once, before the step loop, is what lets run_<kind> index without bounds checks. Messages name
// the buffer by its plan name and say which of the op's operands it is (`role`); the interpreter prefixes the op.
#include <string>

#include "core/error.h"
#include "cpu/ops.h"

namespace od::cpu {
namespace {

const char* const kSizeHint = "the plan's op sizes and its buffer shapes disagree: recompile the plan with this version of opendit";
const char* const kTypeHint = "the plan's op and its buffer dtypes disagree: recompile the plan with this version of opendit";

void require(const Memory& mem, BufRef ref, int64_t needed, const char* role, bool want_int) {
  OD_CHECK(ref.valid(), std::string("the op names no ") + role + " buffer", kSizeHint);
  const Slot& slot = mem.slot(ref);
  const std::string& name = mem.name(ref);
  if (want_int) {
    OD_CHECK(slot.is_int, std::string(role) + " `" + name + "` is a float " + (slot.is_weight ? "weight" : "buffer") + " where an i32 one is needed", kTypeHint);
  } else {
    OD_CHECK(!slot.is_int, std::string(role) + " `" + name + "` is an i32 buffer where a float one is needed", kTypeHint);
  }
  OD_CHECK(needed >= 0, std::string("the op's sizes give ") + role + " `" + name + "` a negative count (" + std::to_string(needed) + ")", kSizeHint);
  // "x buffer `h` ...", "table weight `y_embedder.embedding_table.weight` ...", but "weight `w` ...", not "weight weight".
  const std::string kind = slot.is_weight ? "weight" : "buffer";
  const std::string label = role == kind ? kind : std::string(role) + " " + kind;
  OD_CHECK(slot.count >= needed,
           label + " `" + name + "` holds " + std::to_string(slot.count) + " values, fewer than the " + std::to_string(needed) + " the op needs",
           kSizeHint);
}

}  // namespace

void require_f32(const Memory& mem, BufRef ref, int64_t needed, const char* role) { require(mem, ref, needed, role, false); }

void require_i32(const Memory& mem, BufRef ref, int64_t needed, const char* role) { require(mem, ref, needed, role, true); }

}  // namespace od::cpu
