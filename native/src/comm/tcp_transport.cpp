// The CPU transport (native/README.md "The CPU transport"): a full mesh of TCP connections between the ranks.
//
//   open_transport      listening socket on host:port (port 0: any), before the rendezvous publishes the port
//   connect_transport   rank r connects to every rank below it and accepts every rank above it; a connection's
//                       first 16 bytes {magic, version, rank, world} say who connected, so accepts match any order
//   send                one frame {magic, channel, bytes} + payload, written from the caller's thread
//   reader threads      one per peer: frames into per-(peer, channel) FIFO queues, buffers recycled per queue
//   recv                the queue's next message, within the timeout, exactly the expected size
//   close_transport     shuts the sockets down, joins the readers, closes everything
#include "comm/tcp_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "core/error.h"

namespace od {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kHelloMagic = 0x4F445448;  // "ODTH"
constexpr uint32_t kFrameMagic = 0x4F44544D;  // "ODTM"
constexpr uint32_t kVersion = 1;
constexpr int64_t kMaxMessageBytes = int64_t(1) << 40;

struct Hello {
  uint32_t magic;
  uint32_t version;
  int32_t rank;
  int32_t world;
};
static_assert(sizeof(Hello) == 16, "hello is 16 bytes");

struct FrameHeader {
  uint32_t magic;
  int32_t channel;
  int64_t bytes;
};
static_assert(sizeof(FrameHeader) == 16, "frame header is 16 bytes");

const char* kTimeoutHint = "OPENDIT_COLLECTIVE_TIMEOUT or the run request's transport.timeoutMs sets the timeout";

std::string seconds_text(int64_t ms) {
  std::ostringstream out;
  if (ms % 1000 == 0) {
    out << ms / 1000 << " s";
  } else {
    out << static_cast<double>(ms) / 1000.0 << " s";
  }
  return out.str();
}

// strerror with a lower-case first letter, to sit inside a sentence.
std::string errno_text(int err) {
  std::string s = std::strerror(err);
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z' && !(s.size() > 1 && s[1] >= 'A' && s[1] <= 'Z')) s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

std::string endpoint_text(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

int64_t ms_left(Clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
}

void set_nonblocking(int fd, bool on) {
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags >= 0) fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

// Sockets of the mesh: no Nagle (messages are latency bound at the tail of every collective), sends that give up
// after the timeout (a peer that stopped reading), keepalive so a vanished host is eventually noticed.
void tune_socket(int fd, int64_t timeout_ms) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout_ms % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// Reads exactly n bytes; false on EOF or error (errno set; 0 for EOF).
bool read_full(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t got = ::recv(fd, p, n, 0);
    if (got == 0) {
      errno = 0;
      return false;
    }
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// One received message; its storage is kept (cap) when it goes back to the free list.
struct Message {
  std::unique_ptr<char[]> data;
  int64_t cap = 0;
  int64_t size = 0;
};

// The messages of one (peer, channel), in arrival order, and the buffers free for the next ones. Nodes move
// between the lists by splice, so a warmed-up queue allocates nothing.
struct Queue {
  std::list<Message> ready;
  std::list<Message> free;
};

// Moves a free buffer that holds `bytes` (or the largest one, to be grown) into `out`, or a new one.
void take_buffer(Queue& q, int64_t bytes, std::list<Message>& out) {
  auto fit = q.free.end(), largest = q.free.end();
  for (auto it = q.free.begin(); it != q.free.end(); ++it) {
    if (it->cap >= bytes && (fit == q.free.end() || it->cap < fit->cap)) fit = it;
    if (largest == q.free.end() || it->cap > largest->cap) largest = it;
  }
  const auto chosen = fit != q.free.end() ? fit : largest;
  if (chosen != q.free.end()) {
    out.splice(out.begin(), q.free, chosen);
  } else {
    out.emplace_back();
  }
}

void ensure_capacity(Message& m, int64_t bytes) {
  if (m.cap >= bytes) return;
  m.data.reset(new char[static_cast<size_t>(bytes)]);
  m.cap = bytes;
}

struct Peer {
  int fd = -1;
  std::mutex write_mutex;
  std::thread reader;
  bool closed = false;        // the reader saw EOF or an error (guarded by the transport's mutex)
  std::string closed_detail;  // " (connection reset by peer)", or empty
};

std::mutex g_open_mutex;
TcpTransport* g_open = nullptr;

}  // namespace

class TcpTransport final : public Communicator {
 public:
  TcpTransport(int rank, int world) : rank_(rank), world_(world), peers_(static_cast<size_t>(world)) {}
  ~TcpTransport() override { teardown(); }

  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void open(const std::string& host, int port);
  void connect(const std::vector<TransportPeer>& peers, int64_t timeout_ms);
  void send(int peer, int channel, const void* data, int64_t bytes, const std::string& what) override;
  void recv(int peer, int channel, void* data, int64_t bytes, const std::string& what) override;
  void barrier(const std::vector<int>& group, const std::string& what) override;
  void abort(const std::string& reason) override;
  void teardown();

  int port() const { return port_; }
  bool connected() const { return connected_; }

 private:
  std::string me() const { return "rank " + std::to_string(rank_); }
  void check_peer(int peer, const std::string& what) const;
  void fail_if_aborted(const std::string& what);
  void connect_to(int j, const TransportPeer& peer, Clock::time_point deadline);
  void accept_from_above(Clock::time_point deadline);
  void read_loop(int j);
  Queue& queue(int peer, int channel) { return queues_[(static_cast<int64_t>(peer) << 32) ^ static_cast<uint32_t>(channel)]; }

  const int rank_, world_;
  std::string host_;
  int port_ = 0;
  int listen_fd_ = -1;
  int64_t timeout_ms_ = 30000;
  std::atomic<bool> connected_{false};
  bool torn_down_ = false;
  std::vector<Peer> peers_;

  std::mutex mutex_;  // queues_, peers_[*].closed, aborted_, closing_
  std::condition_variable arrived_;
  std::map<int64_t, Queue> queues_;
  bool aborted_ = false;
  std::string abort_reason_;
  bool closing_ = false;
};

void TcpTransport::check_peer(int peer, const std::string& what) const {
  OD_CHECK(peer >= 0 && peer < world_,
           me() + ": peer rank " + std::to_string(peer) + " is outside the world of " + std::to_string(world_) + " ranks (" + what + ")", "");
  OD_CHECK(connected_ || peer == rank_, me() + ": the transport is not connected (" + what + ")", "connect_transport comes first");
}

void TcpTransport::fail_if_aborted(const std::string& what) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (aborted_) OD_FAIL(me() + ": " + abort_reason_ + " (while " + what + ")", "");
}

void TcpTransport::open(const std::string& host, int port) {
  host_ = host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
  OD_CHECK(gai == 0, me() + ": cannot listen on " + endpoint_text(host, port) + ": " + gai_strerror(gai), "the host must be this machine's name or address (127.0.0.1 for one machine, 0.0.0.0 for every interface)");
  std::string last = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = errno_text(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      last = errno_text(errno);
      ::close(fd);
      continue;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    set_nonblocking(fd, true);
    listen_fd_ = fd;
    break;
  }
  freeaddrinfo(found);
  OD_CHECK(listen_fd_ >= 0, me() + ": cannot listen on " + endpoint_text(host, port) + " (" + last + ")",
           port == 0 ? "" : "another process may hold that port: pass port 0 for any free one");
}

// Connects to rank j (below this one), retrying with backoff until the deadline: it may not be listening yet.
void TcpTransport::connect_to(int j, const TransportPeer& peer, Clock::time_point deadline) {
  const std::string where = endpoint_text(peer.host, peer.port);
  std::string last = "no attempt was made";
  int backoff_ms = 10;
  for (;;) {
    fail_if_aborted("connecting to rank " + std::to_string(j) + " at " + where);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(peer.port);
    const int gai = getaddrinfo(peer.host.c_str(), service.c_str(), &hints, &found);
    if (gai != 0) {
      last = gai_strerror(gai);
    } else {
      for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
          last = errno_text(errno);
          continue;
        }
        set_nonblocking(fd, true);
        int err = 0;
        if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
          err = errno;
          if (err == EINPROGRESS) {
            // Wait in slices, so that abort() is seen.
            err = ETIMEDOUT;
            for (;;) {
              const int64_t left = ms_left(deadline);
              if (left <= 0) break;
              pollfd p{fd, POLLOUT, 0};
              const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100)));
              if (r > 0) {
                socklen_t len = sizeof(err);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
                break;
              }
              if (r < 0 && errno != EINTR) {
                err = errno;
                break;
              }
              {
                std::lock_guard<std::mutex> lock(mutex_);
                if (aborted_) break;
              }
            }
          }
        }
        if (err == 0) {
          set_nonblocking(fd, false);
          tune_socket(fd, timeout_ms_);
          const Hello hello{kHelloMagic, kVersion, rank_, world_};
          if (::send(fd, &hello, sizeof(hello), MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof(hello))) {
            peers_[static_cast<size_t>(j)].fd = fd;
            freeaddrinfo(found);
            return;
          }
          err = errno;
        }
        // An attempt the deadline cut short says less than the one before it ("connection refused").
        if (err != ETIMEDOUT || last == "no attempt was made") last = errno_text(err);
        ::close(fd);
      }
      freeaddrinfo(found);
    }
    const int64_t left = ms_left(deadline);
    if (left <= 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(left, backoff_ms)));
    backoff_ms = std::min(backoff_ms * 2, 500);
  }
  fail_if_aborted("connecting to rank " + std::to_string(j) + " at " + where);
  OD_FAIL(me() + ": could not connect to rank " + std::to_string(j) + " at " + where + " within " + seconds_text(timeout_ms_) + " (" + last + ")",
          "is rank " + std::to_string(j) + " running and reachable at that address? " + kTimeoutHint);
}

// Accepts a connection from every rank above this one, in whatever order they come.
void TcpTransport::accept_from_above(Clock::time_point deadline) {
  int pending = world_ - 1 - rank_;
  const auto waiting_for = [&] {
    std::string list;
    int n = 0;
    for (int j = rank_ + 1; j < world_; j++) {
      if (peers_[static_cast<size_t>(j)].fd >= 0) continue;
      if (n++ > 0) list += ", ";
      list += std::to_string(j);
    }
    return (n == 1 ? "rank " : "ranks ") + list;
  };
  while (pending > 0) {
    fail_if_aborted("waiting for " + waiting_for() + " to connect");
    const int64_t left = ms_left(deadline);
    if (left <= 0)
      OD_FAIL(me() + ": timed out after " + seconds_text(timeout_ms_) + " waiting for " + waiting_for() + " to connect to " + endpoint_text(host_, port_) +
                  "; they may not have started, may have failed, or cannot reach this address",
              kTimeoutHint);
    pollfd p{listen_fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100)));
    if (r <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;  // EAGAIN, ECONNABORTED: try again
    // The hello, within the deadline; a connection that is not ours (a port scan) is dropped.
    Hello hello{};
    bool ok = false;
    {
      char* at = reinterpret_cast<char*>(&hello);
      size_t need = sizeof(hello);
      while (need > 0) {
        const int64_t wait = ms_left(deadline);
        if (wait <= 0) break;
        pollfd q{fd, POLLIN, 0};
        const int pr = ::poll(&q, 1, static_cast<int>(std::min<int64_t>(wait, 100)));
        if (pr < 0 && errno != EINTR) break;
        if (pr <= 0) continue;
        const ssize_t got = ::recv(fd, at, need, 0);
        if (got <= 0) {
          if (got < 0 && errno == EINTR) continue;
          break;
        }
        at += got;
        need -= static_cast<size_t>(got);
      }
      ok = need == 0 && hello.magic == kHelloMagic;
    }
    if (!ok) {
      ::close(fd);
      continue;
    }
    const auto refuse = [&](const std::string& why) {
      ::close(fd);
      OD_FAIL(me() + ": " + why, "every rank must be started by the same launcher with the same world size");
    };
    if (hello.version != kVersion)
      refuse("a peer speaks CPU transport version " + std::to_string(hello.version) + ", this rank version " + std::to_string(kVersion) + " (mixed opendit versions?)");
    if (hello.world != world_)
      refuse("rank " + std::to_string(hello.rank) + " was started with a world of " + std::to_string(hello.world) + " ranks, this rank with " + std::to_string(world_));
    if (hello.rank <= rank_ || hello.rank >= world_)
      refuse("a peer connected as rank " + std::to_string(hello.rank) + ", but only ranks " + std::to_string(rank_ + 1) + ".." + std::to_string(world_ - 1) + " connect to this one");
    if (peers_[static_cast<size_t>(hello.rank)].fd >= 0) refuse("rank " + std::to_string(hello.rank) + " connected twice");
    tune_socket(fd, timeout_ms_);
    peers_[static_cast<size_t>(hello.rank)].fd = fd;
    pending--;
  }
}

void TcpTransport::connect(const std::vector<TransportPeer>& peers, int64_t timeout_ms) {
  OD_CHECK(!connected_, me() + ": the transport is already connected", "open a new transport for each run");
  OD_CHECK(static_cast<int>(peers.size()) == world_,
           me() + ": " + std::to_string(peers.size()) + " peer endpoints given for a world of " + std::to_string(world_) + " ranks", "one endpoint per global rank, this rank's own included");
  OD_CHECK(timeout_ms > 0, me() + ": the transport timeout must be positive, not " + std::to_string(timeout_ms) + " ms", "");
  OD_CHECK(peers[static_cast<size_t>(rank_)].port == port_,
           me() + ": its own published endpoint " + endpoint_text(peers[static_cast<size_t>(rank_)].host, peers[static_cast<size_t>(rank_)].port) +
               " does not carry the port it listens on (" + std::to_string(port_) + ")",
           "peers[i] must be the endpoint rank i published");
  timeout_ms_ = timeout_ms;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (int j = 0; j < rank_; j++) connect_to(j, peers[static_cast<size_t>(j)], deadline);
  accept_from_above(deadline);
  connected_ = true;
  for (int j = 0; j < world_; j++)
    if (j != rank_) peers_[static_cast<size_t>(j)].reader = std::thread(&TcpTransport::read_loop, this, j);
}

void TcpTransport::read_loop(int j) {
  Peer& peer = peers_[static_cast<size_t>(j)];
  std::string detail;
  try {
    for (;;) {
      FrameHeader h{};
      if (!read_full(peer.fd, &h, sizeof(h))) {
        if (errno != 0) detail = " (" + errno_text(errno) + ")";
        break;
      }
      if (h.magic != kFrameMagic || h.bytes < 0 || h.bytes > kMaxMessageBytes) {
        detail = " (it sent a malformed frame)";
        break;
      }
      std::list<Message> node;
      Queue* q;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        q = &queue(j, h.channel);
        take_buffer(*q, h.bytes, node);
      }
      Message& m = node.front();
      ensure_capacity(m, h.bytes);
      m.size = h.bytes;
      if (h.bytes > 0 && !read_full(peer.fd, m.data.get(), static_cast<size_t>(h.bytes))) {
        detail = errno != 0 ? " (" + errno_text(errno) + ", in the middle of a message)" : " (in the middle of a message)";
        break;
      }
      std::lock_guard<std::mutex> lock(mutex_);
      q->ready.splice(q->ready.end(), node);
      arrived_.notify_all();
    }
  } catch (const std::bad_alloc&) {
    detail = " (this rank ran out of memory receiving from it)";
  }
  std::lock_guard<std::mutex> lock(mutex_);
  peer.closed = true;
  peer.closed_detail = detail;
  arrived_.notify_all();
}

void TcpTransport::send(int peer, int channel, const void* data, int64_t bytes, const std::string& what) {
  check_peer(peer, what);
  OD_CHECK(bytes >= 0 && bytes <= kMaxMessageBytes, me() + ": cannot send " + std::to_string(bytes) + " bytes (" + what + ")", "");
  fail_if_aborted("sending to rank " + std::to_string(peer) + " for " + what);
  if (peer == rank_) {
    std::list<Message> node;
    Queue* q;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      q = &queue(peer, channel);
      take_buffer(*q, bytes, node);
    }
    Message& m = node.front();
    ensure_capacity(m, bytes);
    m.size = bytes;
    if (bytes > 0) std::memcpy(m.data.get(), data, static_cast<size_t>(bytes));
    std::lock_guard<std::mutex> lock(mutex_);
    q->ready.splice(q->ready.end(), node);
    arrived_.notify_all();
    return;
  }
  Peer& p = peers_[static_cast<size_t>(peer)];
  std::lock_guard<std::mutex> write_lock(p.write_mutex);
  FrameHeader h{kFrameMagic, channel, bytes};
  iovec iov[2];
  iov[0].iov_base = &h;
  iov[0].iov_len = sizeof(h);
  iov[1].iov_base = const_cast<void*>(data);
  iov[1].iov_len = static_cast<size_t>(bytes);
  int first = 0;
  const int count = bytes > 0 ? 2 : 1;
  while (first < count) {
    msghdr msg{};
    msg.msg_iov = iov + first;
    msg.msg_iovlen = static_cast<size_t>(count - first);
    const ssize_t sent = ::sendmsg(p.fd, &msg, MSG_NOSIGNAL);
    if (sent < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      fail_if_aborted("sending to rank " + std::to_string(peer) + " for " + what);
      if (err == EAGAIN || err == EWOULDBLOCK)
        OD_FAIL(me() + ": timed out after " + seconds_text(timeout_ms_) + " sending to rank " + std::to_string(peer) + " for " + what +
                    "; the peer may have stopped or be stuck",
                kTimeoutHint);
      OD_FAIL(me() + ": rank " + std::to_string(peer) + " closed its connection (it stopped) while sending to it for " + what + " (" + errno_text(err) + ")", "");
    }
    size_t left = static_cast<size_t>(sent);
    while (first < count && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      first++;
    }
    if (first < count) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
}

void TcpTransport::recv(int peer, int channel, void* data, int64_t bytes, const std::string& what) {
  check_peer(peer, what);
  std::list<Message> node;
  Queue* q;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    q = &queue(peer, channel);
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
    for (;;) {
      if (aborted_) OD_FAIL(me() + ": " + abort_reason_ + " (while waiting for data from rank " + std::to_string(peer) + " for " + what + ")", "");
      if (!q->ready.empty()) break;
      const Peer& p = peers_[static_cast<size_t>(peer)];
      if (p.closed)
        OD_FAIL(me() + ": rank " + std::to_string(peer) + " closed its connection (it stopped) while waiting for " + what + p.closed_detail,
                "the error of rank " + std::to_string(peer) + " says why it stopped");
      if (closing_) OD_FAIL(me() + ": the transport was closed while waiting for " + what, "");
      if (arrived_.wait_until(lock, deadline) == std::cv_status::timeout && q->ready.empty() && !aborted_ && !p.closed)
        OD_FAIL(me() + ": timed out after " + seconds_text(timeout_ms_) + " waiting for data from rank " + std::to_string(peer) + " for " + what +
                    "; the peer may have stopped or be stuck",
                kTimeoutHint);
    }
    node.splice(node.begin(), q->ready, q->ready.begin());
  }
  Message& m = node.front();
  const int64_t got = m.size;
  if (got == bytes && bytes > 0) std::memcpy(data, m.data.get(), static_cast<size_t>(bytes));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    q->free.splice(q->free.end(), node);
  }
  OD_CHECK(got == bytes,
           me() + ": the message from rank " + std::to_string(peer) + " on channel " + std::to_string(channel) + " for " + what + " holds " +
               std::to_string(got) + " bytes, but " + std::to_string(bytes) + " were expected",
           "the ranks disagree about the plan: every rank must run the same plan");
}

void TcpTransport::barrier(const std::vector<int>& group, const std::string& what) {
  int found = 0;
  for (int g : group) {
    check_peer(g, what);
    if (g == rank_) found++;
  }
  OD_CHECK(found == 1, me() + ": the barrier's group must hold this rank exactly once (" + what + ")", "");
  for (int g : group)
    if (g != rank_) send(g, kBarrierChannel, nullptr, 0, what);
  for (int g : group)
    if (g != rank_) recv(g, kBarrierChannel, nullptr, 0, what);
}

void TcpTransport::abort(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (aborted_) return;
    aborted_ = true;
    abort_reason_ = reason;
    arrived_.notify_all();
  }
  // Unblocks a send waiting on a full socket (the peers then see this rank stop, which it is doing).
  for (Peer& p : peers_)
    if (p.fd >= 0 && connected_) ::shutdown(p.fd, SHUT_RDWR);
}

void TcpTransport::teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    arrived_.notify_all();
  }
  for (Peer& p : peers_)
    if (p.fd >= 0) ::shutdown(p.fd, SHUT_RDWR);
  for (Peer& p : peers_)
    if (p.reader.joinable()) p.reader.join();
  for (Peer& p : peers_) {
    if (p.fd >= 0) ::close(p.fd);
    p.fd = -1;
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

// ---- the functions of communicator.h and tcp_transport.h ----

TcpTransport* open_transport(int rank, int world, const std::string& host, int port) {
  OD_CHECK(world >= 1, "the CPU transport needs a world of at least 1 rank, not " + std::to_string(world), "");
  OD_CHECK(rank >= 0 && rank < world, "rank " + std::to_string(rank) + " is outside the world of " + std::to_string(world) + " ranks", "");
  OD_CHECK(port >= 0 && port <= 65535, "rank " + std::to_string(rank) + ": port " + std::to_string(port) + " is not a TCP port", "0 picks any free port");
  std::lock_guard<std::mutex> lock(g_open_mutex);
  OD_CHECK(g_open == nullptr,
           "rank " + std::to_string(rank) + ": this process already has an open CPU transport (rank " + std::to_string(g_open ? g_open->rank() : -1) + ")",
           "one transport per process: a run closes it when it ends");
  auto t = std::make_unique<TcpTransport>(rank, world);
  t->open(host, port);
  g_open = t.release();
  return g_open;
}

int transport_port(const TcpTransport* t) { return t->port(); }
int transport_rank(const TcpTransport* t) { return t->rank(); }
int transport_world(const TcpTransport* t) { return t->world(); }

Communicator* connect_transport(TcpTransport* t, const std::vector<TransportPeer>& peers, int64_t timeout_ms) {
  OD_CHECK(t != nullptr, "connect_transport: no transport", "open_transport comes first");
  t->connect(peers, timeout_ms);
  return t;
}

void close_transport(TcpTransport* t) {
  if (t == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(g_open_mutex);
    if (g_open == t) g_open = nullptr;
  }
  delete t;
}

TcpTransport* open_transport_instance() {
  std::lock_guard<std::mutex> lock(g_open_mutex);
  return g_open;
}

void abort_open_transport(const std::string& reason) {
  std::lock_guard<std::mutex> lock(g_open_mutex);
  if (g_open != nullptr) g_open->abort(reason);
}

void abort_transport_if_open(const TcpTransport* t, const std::string& reason) {
  std::lock_guard<std::mutex> lock(g_open_mutex);
  if (g_open != nullptr && g_open == t) g_open->abort(reason);
}

}  // namespace od
