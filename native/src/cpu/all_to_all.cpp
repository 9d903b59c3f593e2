// all_to_all (compiler/plan/ops.ts AllToAllOp), the semantics of runtime/reference/collectives/all-to-all.ts on
// one rank of its group (R members, this rank the i-th): x viewed as dims [d0, d1, d2, d3] splits along `scatter`
// into R parts of d[scatter]/R, part j going to member j; out, viewed as dims with d[scatter]/R and
// d[gather]·R, holds at gather index j·d[gather] + g member j's part for this rank at gather index g.
//
// Each part is a row-major sub-view (dims with d[scatter]/R), packed into the send half of the staging area as
// A runs of d[scatter]/R · I values (A: the dims before scatter, I: after it); the parts received land in the
// other half and are unpacked as B runs of d[gather] · J values each (B, J: the dims before and after gather).
// Everything is read before out is written, so out may alias x. A group of one rank copies x to out.
#include <cstring>
#include <string>

#include "comm/communicator.h"
#include "core/error.h"
#include "cpu/comm_support.h"
#include "cpu/ops.h"

namespace od::cpu {
namespace {

int64_t product(const Dims4& d, int64_t from, int64_t to) {
  int64_t n = 1;
  for (int64_t a = from; a < to; a++) n *= d[static_cast<size_t>(a)];
  return n;
}

}  // namespace

void check_all_to_all(const AllToAllOp& op, Memory& mem) {
  for (int64_t d : op.dims) OD_CHECK(d >= 0, "the view " + std::to_string(op.dims[0]) + "x" + std::to_string(op.dims[1]) + "x" +
                                            std::to_string(op.dims[2]) + "x" + std::to_string(op.dims[3]) + " has a negative size", "");
  OD_CHECK(op.scatter >= 0 && op.scatter < 4 && op.gather >= 0 && op.gather < 4,
           "scatter " + std::to_string(op.scatter) + " and gather " + std::to_string(op.gather) + " are not dimensions of a 4-D view", "");
  OD_CHECK(op.scatter != op.gather, "scatter and gather are both dimension " + std::to_string(op.scatter), "");
  const std::vector<int>& group = comm_group(mem, op.axis);
  const int64_t R = static_cast<int64_t>(group.size());
  const int64_t extent = op.dims[static_cast<size_t>(op.scatter)];
  OD_CHECK(extent % R == 0,
           "scatter dimension " + std::to_string(op.scatter) + " of " + std::to_string(extent) + " does not split into the " + op.axis +
               " group's " + std::to_string(R) + " parts",
           "");
  const int64_t count = view_size(op.dims);
  require_f32(mem, op.x, count, "x");
  require_f32(mem, op.out, count, "out");
  if (R > 1) mem.need_staging(2 * count * static_cast<int64_t>(sizeof(float)));
}

void run_all_to_all(const AllToAllOp& op, Memory& mem) {
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
  float* sent = static_cast<float*>(mem.staging());
  float* received = sent + count;
  const int64_t part = count / R;

  // Pack: part i is x at scatter indices [i·sp, (i + 1)·sp), row-major.
  const size_t sc = static_cast<size_t>(op.scatter);
  const int64_t A = product(op.dims, 0, op.scatter), S = op.dims[sc], sp = S / R, I = product(op.dims, op.scatter + 1, 4);
  for (int64_t i = 0; i < R; i++)
    for (int64_t a = 0; a < A; a++)
      std::memcpy(sent + i * part + a * sp * I, x + (a * S + i * sp) * I, static_cast<size_t>(sp * I) * sizeof(float));

  all_to_all_bytes(*mem.comm(), group, sent, received, part * static_cast<int64_t>(sizeof(float)), comm_what(mem, op.axis, group));

  // Unpack: member j's part (dims with d[scatter]/R) goes to gather indices [j·Gd, (j + 1)·Gd) of out.
  Dims4 dims = op.dims;
  dims[sc] = sp;
  const int64_t B = product(dims, 0, op.gather), Gd = dims[static_cast<size_t>(op.gather)], J = product(dims, op.gather + 1, 4);
  for (int64_t j = 0; j < R; j++)
    for (int64_t b = 0; b < B; b++)
      std::memcpy(out + (b * Gd * R + j * Gd) * J, received + j * part + b * Gd * J, static_cast<size_t>(Gd * J) * sizeof(float));
}

}  // namespace od::cpu
