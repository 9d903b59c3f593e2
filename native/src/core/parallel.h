// Both cores where it matters: a fixed pool of worker threads, started once before the step loop, that splits an
// index range into contiguous chunks. Kernels call parallel_for; with one thread it runs inline.
#pragma once
#include <cstdint>
#include <functional>

namespace od {

// Sets the number of threads (0: std::thread::hardware_concurrency(), or OPENDIT_CPU_THREADS when set); starts
// the pool. Called by the interpreter before the step loop; safe to call again with the same count.
void set_threads(int threads);
int thread_count();

// Runs body(begin, end, thread) over contiguous chunks covering [0, n), at most one chunk per thread, and
// returns when all are done. `thread` is in [0, thread_count()) and indexes per-thread scratch. Ranges smaller
// than `grain` items per thread use fewer threads. An exception thrown by body is rethrown here (the first one).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end, int thread)>& body);

}  // namespace od
