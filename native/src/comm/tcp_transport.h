// Internal to the CPU transport and the addon (the contract is comm/communicator.h): the process's open transport,
// and a way to stop whatever uses it from another thread (the addon cancelling a run, process exit).
#pragma once
#include <string>

#include "comm/communicator.h"

namespace od {

// The channel barrier() uses; collectives use kCollectiveChannel (0), point-to-point transfers positive channels.
constexpr int kBarrierChannel = -1;

// The transport opened in this process and not yet closed, or nullptr.
TcpTransport* open_transport_instance();
// The rank and world the open transport `t` was opened with.
int transport_rank(const TcpTransport* t);
int transport_world(const TcpTransport* t);
// Aborts the open transport, if any, with `reason` (safe from any thread, at any time, even while it is closing):
// every blocked or later wait, connect or send fails at once.
void abort_open_transport(const std::string& reason);
// The same for `t` only, when it is still the open transport (never dereferenced otherwise): a late cancel of a
// run that has closed its transport leaves the next one alone.
void abort_transport_if_open(const TcpTransport* t, const std::string& reason);

}  // namespace od
