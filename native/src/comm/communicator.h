// The communicators of a multi-rank run, behind one interface: the CPU transport (loopback or LAN TCP sockets,
// comm/tcp_transport.*, needing nothing beyond `npm install`) now, NCCL for GPU ranks later. Shapes are static:
// every message's size is known to both sides from the plan, so no shape handshake ever happens (the hangs users
// report from peers, xDiT #363 and #284, come from exactly such handshakes).
//
// Matching: messages between two ranks are matched in program order per (peer, channel). Collectives use
// kCollectiveChannel; PipeFusion's point-to-point transfers use one channel per (axis, direction) so that the two
// directions between the same pair of stages never mix. Every wait has the run's timeout: when it passes, the
// call fails with od::Error naming this rank, the peer and what it was waiting for, instead of hanging.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace od {

constexpr int kCollectiveChannel = 0;

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // Sends `bytes` bytes to global rank `peer` on `channel`; returns once the data is copied out of `data` (the
  // caller may then change it). Never waits for the receiver to post its receive.
  virtual void send(int peer, int channel, const void* data, int64_t bytes, const std::string& what) = 0;
  // Receives the next message from `peer` on `channel` into `data`; it must be exactly `bytes` long. Waits at most
  // the timeout. `what` names the op for messages ("op 12 (all_to_all) over the dsp group").
  virtual void recv(int peer, int channel, void* data, int64_t bytes, const std::string& what) = 0;
  // Every rank of `group` (global ranks, this rank among them) reaches this point.
  virtual void barrier(const std::vector<int>& group, const std::string& what) = 0;
  // Makes every blocked or later call fail at once with `reason` (the launcher stopping the run).
  virtual void abort(const std::string& reason) = 0;
};

// The CPU transport's endpoint of one rank: a listening socket opened before the rendezvous (its port is what the
// rank publishes), then a full mesh of connections to every other rank.
struct TransportPeer {
  std::string host;
  int port = 0;
};

class TcpTransport;

// Opens this rank's listening socket on `host` (port 0: any free port). One per process.
TcpTransport* open_transport(int rank, int world, const std::string& host, int port);
int transport_port(const TcpTransport* t);
// Connects the mesh (lower ranks accept, higher ranks connect, each connection's first bytes naming its rank) and
// returns the communicator. `timeout_ms` bounds the connection and every later wait.
Communicator* connect_transport(TcpTransport* t, const std::vector<TransportPeer>& peers, int64_t timeout_ms);
void close_transport(TcpTransport* t);

// ---- collectives over a group, built on send/recv (comm/collectives.cpp) ----

// All-to-all of `bytes_per_part` bytes: part i of `in` goes to group[i], and the part from group[i] lands at part
// i of `out` (in and out do not overlap). The part this rank keeps is copied locally.
void all_to_all_bytes(Communicator& comm, const std::vector<int>& group, const void* in, void* out,
                      int64_t bytes_per_part, const std::string& what);
// All-gather: `out` receives every member's `bytes` in group order (this rank's own copied from `in`).
void all_gather_bytes(Communicator& comm, const std::vector<int>& group, const void* in, void* out, int64_t bytes,
                      const std::string& what);
// One ring shift: sends `bytes` of `in` to the next member of `group` and receives the previous member's into `out`.
void ring_shift_bytes(Communicator& comm, const std::vector<int>& group, const void* in, void* out, int64_t bytes,
                      const std::string& what);

}  // namespace od
