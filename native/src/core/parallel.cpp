// The CPU thread pool of core/parallel.h (no TypeScript counterpart: the reference interpreter is one thread).
//
// Threads are started once (set_threads) and then sleep on a condition variable between parallel_for calls, so a
// step of a few hundred small ops does not pay a thread start per op. The caller of parallel_for is thread 0 and
// runs the first chunk itself; worker w runs chunk w. A call posts the job under the pool's mutex and bumps a
// generation counter; workers spin a little on it before sleeping, because ops follow each other closely and a
// condition-variable wake-up costs more than most of them. Nothing is allocated per call: the job is a pointer
// to the caller's std::function and a few integers.
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace od {
namespace {

using Body = std::function<void(int64_t, int64_t, int)>;

// Spins this many times on the generation (about tens of microseconds) before sleeping.
constexpr int kSpins = 4000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Which pool thread this is: -1 outside the pool's workers (a parallel_for inside a body then runs inline).
thread_local int t_worker = -1;

class Pool {
 public:
  ~Pool() { stop(); }

  int threads() const { return threads_; }

  void resize(int threads) {
    std::lock_guard<std::mutex> call(call_mutex_);
    if (threads == threads_ && static_cast<int>(workers_.size()) == threads - 1) return;
    stop();
    threads_ = threads;
    stopping_.store(false);
    // The generation the workers start from is read here, not in the new threads: a thread that starts late
    // would otherwise take the first job's generation for one it has seen, and never run that job.
    const uint64_t start = generation_.load();
    for (int w = 1; w < threads; w++) workers_.emplace_back([this, w, start] { work(w, start); });
  }

  void run(int64_t n, int64_t grain, const Body& body) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    // Inside a body (a kernel calling another parallel kernel): run inline on this thread's index.
    if (t_worker >= 0) {
      body(0, n, t_worker);
      return;
    }
    // One run at a time owns the workers (set_threads is process-wide; the interpreter also serialises runs).
    std::lock_guard<std::mutex> call(call_mutex_);
    int64_t want = std::max<int64_t>(1, n / grain);
    int use = static_cast<int>(std::min<int64_t>(threads_, want));
    if (use <= 1) {
      t_worker = 0;
      try {
        body(0, n, 0);
      } catch (...) {
        t_worker = -1;
        throw;
      }
      t_worker = -1;
      return;
    }
    const int64_t chunk = (n + use - 1) / use;
    const int chunks = static_cast<int>((n + chunk - 1) / chunk);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      n_ = n;
      chunk_ = chunk;
      chunks_ = chunks;
      error_ = nullptr;
      pending_.store(chunks - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();

    t_worker = 0;
    try {
      body(0, std::min(n, chunk), 0);
    } catch (...) {
      record(std::current_exception());
    }
    t_worker = -1;

    // Wait for the other chunks: spin first, then sleep until the last worker signals.
    for (int i = 0; i < kSpins && pending_.load(std::memory_order_acquire) != 0; i++) cpu_relax();
    if (pending_.load(std::memory_order_acquire) != 0) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    body_ = nullptr;
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  void work(int w, uint64_t seen) {
    t_worker = w;
    for (;;) {
      for (int i = 0; i < kSpins && generation_.load(std::memory_order_acquire) == seen && !stopping_.load(); i++) cpu_relax();
      const Body* body;
      int64_t begin, end;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_.load() || generation_.load(std::memory_order_acquire) != seen; });
        if (stopping_.load()) return;
        seen = generation_.load(std::memory_order_acquire);
        if (w >= chunks_) continue;  // not needed for this job
        body = body_;
        begin = static_cast<int64_t>(w) * chunk_;
        end = std::min(n_, begin + chunk_);
      }
      try {
        (*body)(begin, end, w);
      } catch (...) {
        record(std::current_exception());
      }
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // Taking the mutex orders this notify after the caller's predicate check (no lost wake-up).
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  void record(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = e;
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_.store(true);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex call_mutex_;  // one parallel_for (or resize) at a time
  std::mutex mutex_;       // guards the job fields below
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  int threads_ = 1;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  const Body* body_ = nullptr;
  int64_t n_ = 0, chunk_ = 0;
  int chunks_ = 0;
  std::exception_ptr error_;
};

// Never destroyed: at process exit (process.exit() runs static destructors while a run thread may still be inside
// parallel_for) joining the workers could wait forever; the exit ends them instead.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

// OPENDIT_CPU_THREADS when set, else the hardware's thread count.
int default_threads() {
  if (const char* env = std::getenv("OPENDIT_CPU_THREADS"); env && *env) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    OD_CHECK(end && *end == '\0' && v >= 1 && v <= 4096,
             "OPENDIT_CPU_THREADS=" + std::string(env) + " is not a thread count",
             "set it to a positive integer, or unset it to use every core");
    return static_cast<int>(v);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace

void set_threads(int threads) {
  OD_CHECK(threads >= 0 && threads <= 4096, "cannot run on " + std::to_string(threads) + " CPU threads",
           "threads is 0 (all cores, or OPENDIT_CPU_THREADS) or a positive count");
  pool().resize(threads == 0 ? default_threads() : threads);
}

int thread_count() { return pool().threads(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& body) {
  pool().run(n, grain, body);
}

}  // namespace od
