// all_gather (compiler/plan/ops.ts AllGatherOp), the semantics of runtime/reference/collectives/all-gather.ts on
// one rank of its group (R members): x viewed as dims; out, viewed as dims with d[dim]·R, is the members' views
// concatenated along `dim` in group order (out at index j·d[dim] + c along dim is member j's x at c).
//
// The members' whole views are gathered into the staging area (member-major), then interleaved into out: the
// view is `outer` runs of inner = d[dim]·(dims after dim) values, and out holds, for each run o, member 0's run
// o, member 1's, ... Everything is read before out is written, so out may alias x. A group of one rank copies.
#include <cstring>
#include <string>

#include "comm/communicator.h"
#include "core/error.h"
#include "cpu/comm_support.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_all_gather(const AllGatherOp& op, Memory& mem) {
  for (int64_t d : op.dims) OD_CHECK(d >= 0, "the view " + std::to_string(op.dims[0]) + "x" + std::to_string(op.dims[1]) + "x" +
                                            std::to_string(op.dims[2]) + "x" + std::to_string(op.dims[3]) + " has a negative size", "");
  OD_CHECK(op.dim >= 0 && op.dim < 4, "dim " + std::to_string(op.dim) + " is not a dimension of a 4-D view", "");
  const std::vector<int>& group = comm_group(mem, op.axis);
  const int64_t R = static_cast<int64_t>(group.size());
  const int64_t count = view_size(op.dims);
  require_f32(mem, op.x, count, "x");
  require_f32(mem, op.out, count * R, "out");
  if (R > 1) mem.need_staging(count * R * static_cast<int64_t>(sizeof(float)));
}

void run_all_gather(const AllGatherOp& op, Memory& mem) {
  const std::vector<int>& group = mem.group(op.axis, "the " + op.axis + " group");
  const float* x = mem.f32(op.x);
  float* out = mem.f32(op.out);
  const int64_t count = view_size(op.dims);
  const int64_t R = static_cast<int64_t>(group.size());
  if (R == 1) {
    if (out != x) std::memmove(out, x, static_cast<size_t>(count) * sizeof(float));
    return;
  }
  if (count == 0) return;
  float* gathered = static_cast<float*>(mem.staging());
  all_gather_bytes(*mem.comm(), group, x, gathered, count * static_cast<int64_t>(sizeof(float)), comm_what(mem, op.axis, group));
  int64_t inner = 1;
  for (int64_t a = op.dim; a < 4; a++) inner *= op.dims[static_cast<size_t>(a)];
  const int64_t outer = count / inner;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < R; j++)
      std::memcpy(out + (o * R + j) * inner, gathered + j * count + o * inner, static_cast<size_t>(inner) * sizeof(float));
}

}  // namespace od::cpu
