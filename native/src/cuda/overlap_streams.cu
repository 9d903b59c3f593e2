// The two streams of a chunked span (cuda/overlap.h): the events, and the order in which a span's chunks are
// enqueued on the main stream and the comm stream. Only CUDA runtime calls, so native/test/cuda_overlap_test.cu
// drives it with kernels of its own, directly and inside a CUDA graph capture.
#include "cuda/check.h"
#include "cuda/overlap.h"

namespace od::cuda {

ChunkEvents::~ChunkEvents() { destroy(); }

void ChunkEvents::destroy() {
  // No checks: also called from the destructor.
  for (cudaEvent_t* e : {&fork_, &join_}) {
    if (*e) cudaEventDestroy(*e);
    *e = nullptr;
  }
  for (std::vector<cudaEvent_t>* list : {&exchanged_, &computed_}) {
    for (cudaEvent_t e : *list)
      if (e) cudaEventDestroy(e);
    list->clear();
  }
}

void ChunkEvents::create(int64_t chunks) {
  destroy();
  auto make = [](cudaEvent_t* e) { OD_CUDA_CHECK(cudaEventCreateWithFlags(e, cudaEventDisableTiming)); };
  try {
    make(&fork_);
    make(&join_);
    exchanged_.assign(static_cast<size_t>(chunks), nullptr);
    computed_.assign(static_cast<size_t>(chunks), nullptr);
    for (int64_t c = 0; c < chunks; ++c) {
      make(&exchanged_[static_cast<size_t>(c)]);
      make(&computed_[static_cast<size_t>(c)]);
    }
  } catch (...) {
    destroy();
    throw;
  }
}

void enqueue_chunked(int64_t chunks, cudaStream_t stream, cudaStream_t comm, const ChunkEvents& events, ChunkedWork& work) {
  OD_CHECK(chunks >= 1 && chunks <= events.chunks() && stream && comm && stream != comm,
           "a chunked span of " + std::to_string(chunks) + " chunks with events for " + std::to_string(events.chunks()) +
               " and its two streams " + (stream && comm && stream != comm ? "set" : "missing or the same"),
           "a CUDA backend defect (cuda/overlap.cu plans the events with the spans)");
  // Fork: the exchanges start once everything before the span is done (inside a capture, comm joins it here).
  OD_CUDA_CHECK(cudaEventRecord(events.fork_, stream));
  OD_CUDA_CHECK(cudaStreamWaitEvent(comm, events.fork_, 0));
  for (int64_t c = 0; c < chunks; ++c) {
    work.exchange_in(c, comm);
    OD_CUDA_CHECK(cudaEventRecord(events.exchanged_[static_cast<size_t>(c)], comm));
  }
  for (int64_t c = 0; c < chunks; ++c) {
    OD_CUDA_CHECK(cudaStreamWaitEvent(stream, events.exchanged_[static_cast<size_t>(c)], 0));
    work.compute(c, stream);
    OD_CUDA_CHECK(cudaEventRecord(events.computed_[static_cast<size_t>(c)], stream));
    OD_CUDA_CHECK(cudaStreamWaitEvent(comm, events.computed_[static_cast<size_t>(c)], 0));
    work.exchange_out(c, comm);
  }
  // Join: what follows the span on `stream` waits for its last exchange (and so for every one before it).
  OD_CUDA_CHECK(cudaEventRecord(events.join_, comm));
  OD_CUDA_CHECK(cudaStreamWaitEvent(stream, events.join_, 0));
}

}  // namespace od::cuda
