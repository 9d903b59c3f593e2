// What the collective, point-to-point and ring-attention kernels share (cpu/ops.h): the group an op runs over,
// the check that a group of several ranks has a communicator, and the `what` the communicator names in its
// messages ("op 12 (all_to_all) over the dsp group [0, 1]").
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "plan/plan.h"
#include "runtime/memory.h"

namespace od::cpu {

// "[0, 1]".
std::string group_text(const std::vector<int>& group);

// The group of `axis` holding this rank; when it has more than one member, fails unless the run has a
// communicator ("runs over the dsp group of 2 ranks [0, 1] but this run has no communicator (one rank)").
const std::vector<int>& comm_group(const Memory& mem, const std::string& axis);

// "op 12 (all_to_all) over the dsp group [0, 1]": the op being run (mem.current_op()) and its group.
std::string comm_what(const Memory& mem, const std::string& axis, const std::vector<int>& group);

// The values of a 4-D view.
inline int64_t view_size(const Dims4& d) { return d[0] * d[1] * d[2] * d[3]; }

// The part of a view a point-to-point message covers (point-to-point.ts runsOf): `outer` runs of `length`
// values, run o starting at o·stride + start; the whole view is one run.
struct TransferRuns {
  int64_t outer = 1, stride = 0, start = 0, length = 0;
  int64_t values() const { return outer * length; }
};
TransferRuns transfer_runs(const Dims4& dims, const std::optional<ViewSlice>& slice);

// Checks a send's or recv's view, slice and peer ("next" | "prev"), that `buffer` holds the view, and that its
// group has other members and a communicator; declares the staging a strided slice needs. Returns its runs.
TransferRuns check_transfer(Memory& mem, const std::string& axis, const std::string& peer, const Dims4& dims,
                            const std::optional<ViewSlice>& slice, BufRef buffer, const char* role);

// The global rank of `rank`'s `peer` neighbour in `group` (ring order).
int peer_of(const std::vector<int>& group, int rank, const std::string& peer);

}  // namespace od::cpu
