// Collectives over a group of global ranks, built on Communicator::send / recv (comm/communicator.h). Each posts
// all of its sends first, then receives: safe because a send never waits for the receiver's recv (the CPU
// transport's reader threads buffer every message as it arrives). Sends and receives go round the group starting
// at this rank's neighbour, so that not every rank writes to the same peer first.
#include <cstring>

#include "comm/communicator.h"
#include "core/error.h"

namespace od {

namespace {

// This rank's index in `group`, which must hold it exactly once and only ranks of the world.
size_t index_in(const Communicator& comm, const std::vector<int>& group, const std::string& what) {
  size_t at = group.size();
  int found = 0;
  for (size_t i = 0; i < group.size(); i++) {
    OD_CHECK(group[i] >= 0 && group[i] < comm.world(),
             "rank " + std::to_string(comm.rank()) + ": " + what + ": group member " + std::to_string(group[i]) + " is outside the world of " +
                 std::to_string(comm.world()) + " ranks",
             "");
    if (group[i] == comm.rank()) {
      at = i;
      found++;
    }
  }
  OD_CHECK(found == 1,
           "rank " + std::to_string(comm.rank()) + ": " + what + ": the group must hold this rank exactly once, it holds it " + std::to_string(found) + " times",
           "");
  return at;
}

const char* at(const void* p, size_t part, int64_t bytes) { return static_cast<const char*>(p) + static_cast<int64_t>(part) * bytes; }
char* at(void* p, size_t part, int64_t bytes) { return static_cast<char*>(p) + static_cast<int64_t>(part) * bytes; }

}  // namespace

void all_to_all_bytes(Communicator& comm, const std::vector<int>& group, const void* in, void* out, int64_t bytes_per_part,
                      const std::string& what) {
  const size_t me = index_in(comm, group, what);
  const size_t n = group.size();
  for (size_t k = 1; k < n; k++) {
    const size_t i = (me + k) % n;
    comm.send(group[i], kCollectiveChannel, at(in, i, bytes_per_part), bytes_per_part, what);
  }
  if (bytes_per_part > 0) std::memcpy(at(out, me, bytes_per_part), at(in, me, bytes_per_part), static_cast<size_t>(bytes_per_part));
  for (size_t k = 1; k < n; k++) {
    const size_t i = (me + n - k) % n;
    comm.recv(group[i], kCollectiveChannel, at(out, i, bytes_per_part), bytes_per_part, what);
  }
}

void all_gather_bytes(Communicator& comm, const std::vector<int>& group, const void* in, void* out, int64_t bytes, const std::string& what) {
  const size_t me = index_in(comm, group, what);
  const size_t n = group.size();
  for (size_t k = 1; k < n; k++) comm.send(group[(me + k) % n], kCollectiveChannel, in, bytes, what);
  if (bytes > 0) std::memmove(at(out, me, bytes), in, static_cast<size_t>(bytes));
  for (size_t k = 1; k < n; k++) {
    const size_t i = (me + n - k) % n;
    comm.recv(group[i], kCollectiveChannel, at(out, i, bytes), bytes, what);
  }
}

void ring_shift_bytes(Communicator& comm, const std::vector<int>& group, const void* in, void* out, int64_t bytes, const std::string& what) {
  const size_t me = index_in(comm, group, what);
  const size_t n = group.size();
  if (n == 1) {
    if (bytes > 0) std::memmove(out, in, static_cast<size_t>(bytes));
    return;
  }
  comm.send(group[(me + 1) % n], kCollectiveChannel, in, bytes, what);
  comm.recv(group[(me + n - 1) % n], kCollectiveChannel, out, bytes, what);
}

}  // namespace od
