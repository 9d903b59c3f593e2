// The pieces the communicating kernels share (cpu/comm_support.h) and transfer_channel (cpu/ops.h).
#include "cpu/comm_support.h"

#include <algorithm>
#include <array>
#include <iterator>

#include "core/error.h"
#include "cpu/ops.h"

namespace od::cpu {

std::string group_text(const std::vector<int>& group) {
  std::string s = "[";
  for (size_t i = 0; i < group.size(); i++) s += (i ? ", " : "") + std::to_string(group[i]);
  return s + "]";
}

const std::vector<int>& comm_group(const Memory& mem, const std::string& axis) {
  const std::vector<int>& group = mem.group(axis, "the " + axis + " group");
  OD_CHECK(group.size() <= 1 || mem.comm(),
           "runs over the " + axis + " group of " + std::to_string(group.size()) + " ranks " + group_text(group) +
               " but this run has no communicator (one rank)",
           "run every rank of the plan's mesh with a transport (opendit launch, or run({..., transport})), or compile "
           "the plan for one rank");
  return group;
}

std::string comm_what(const Memory& mem, const std::string& axis, const std::vector<int>& group) {
  const Op* op = mem.current_op();
  return (op ? describe_op(*op) : std::string("an op")) + " over the " + axis + " group " + group_text(group);
}

TransferRuns transfer_runs(const Dims4& dims, const std::optional<ViewSlice>& slice) {
  if (!slice) return TransferRuns{1, 0, 0, view_size(dims)};
  int64_t inner = 1, outer = 1;
  for (int64_t a = slice->dim + 1; a < 4; a++) inner *= dims[static_cast<size_t>(a)];
  for (int64_t a = 0; a < slice->dim; a++) outer *= dims[static_cast<size_t>(a)];
  return TransferRuns{outer, dims[static_cast<size_t>(slice->dim)] * inner, slice->first * inner, slice->count * inner};
}

TransferRuns check_transfer(Memory& mem, const std::string& axis, const std::string& peer, const Dims4& dims,
                            const std::optional<ViewSlice>& slice, BufRef buffer, const char* role) {
  for (int64_t d : dims) OD_CHECK(d >= 0, "the view has a negative size", "");
  OD_CHECK(peer == "next" || peer == "prev", "peer `" + peer + "` is neither next nor prev", "");
  if (slice) {
    OD_CHECK(slice->dim >= 0 && slice->dim < 4 && slice->first >= 0 && slice->count >= 0 &&
                 slice->first + slice->count <= dims[static_cast<size_t>(slice->dim)],
             "slice [" + std::to_string(slice->first) + ", " + std::to_string(slice->first + slice->count) + ") of dim " +
                 std::to_string(slice->dim) + " leaves its view",
             "");
  }
  require_f32(mem, buffer, view_size(dims), role);
  const std::vector<int>& group = comm_group(mem, axis);
  OD_CHECK(group.size() > 1,
           "transfers over the " + axis + " group " + group_text(group) + ", in which rank " + std::to_string(mem.rank()) +
               " is alone: it would be its own peer",
           "");
  const TransferRuns runs = transfer_runs(dims, slice);
  if (runs.outer > 1) mem.need_staging(runs.values() * static_cast<int64_t>(sizeof(float)));
  return runs;
}

int peer_of(const std::vector<int>& group, int rank, const std::string& peer) {
  size_t i = 0;
  while (i < group.size() && group[i] != rank) i++;
  OD_CHECK(i < group.size(), "rank " + std::to_string(rank) + " is not in its group " + group_text(group), "");
  const size_t n = group.size();
  return group[peer == "next" ? (i + 1) % n : (i + n - 1) % n];
}

int transfer_channel(const Plan&, const std::string& axis, bool towards_next) {
  // One pair of channels per group axis, in a fixed order, after the collectives' channel 0.
  static const std::array<const char*, 7> kAxes = {"pipefusion", "cfg", "dp", "dsp", "ulysses", "ring", "sequence"};
  const auto it = std::find(kAxes.begin(), kAxes.end(), axis);
  OD_CHECK(it != kAxes.end(), "`" + axis + "` is not a group axis a transfer can run over", "recompile the plan");
  return 1 + 2 * static_cast<int>(std::distance(kAxes.begin(), it)) + (towards_next ? 0 : 1);
}

}  // namespace od::cpu
