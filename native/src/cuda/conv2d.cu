// `conv2d` on the device (compiler/plan/ops.ts Conv2dOp; cpu/conv2d.cpp is the reference): the op's launcher over
// cuda/conv2d_kernel.cu (im2col + cuBLASLt, cuda/decode_kernels.h), plus the halo of patch-parallel decode.
//
// Halo (kernel 3 with `halo`: this rank holds a band of the image's rows, the group's members hold consecutive
// bands in member order): before the convolution, each member copies the first and last image row of every frame
// of its band into scratch ([frames, width, Cin] each, cudaMemcpy2DAsync), then one NCCL group on the stream sends
// its first rows to the previous member and its last rows to the next, and receives the previous member's last
// rows (the rows above its band) and the next member's first rows (the rows below). The gather reads those as the
// band's row −1 and row H; the first member's top and the last member's bottom stay zero padding, the image's
// border. Bytes travel as ncclUint8 (dtype-agnostic). A group of one member needs no transfer; a larger group
// needs this build's NCCL and the backend's communicators (ctx.nccl), and fails clearly without them.
#include <algorithm>
#include <cstdint>
#include <string>

#if OPENDIT_WITH_NCCL
#include <nccl.h>
#endif

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/decode_kernels.h"
#include "cuda/gemm.h"
#include "cuda/ops.h"
#include "cuda/plan_operand.h"

namespace od::cuda {
namespace {

constexpr size_t kAlign = 256;

size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

Conv2dArgs sizes_of(const Conv2dOp& op) {
  Conv2dArgs a;
  a.frames = op.frames;
  a.height = op.height;
  a.width = op.width;
  a.in_channels = op.in_channels;
  a.out_channels = op.out_channels;
  a.kernel = op.kernel;
  return a;
}

// The arguments at check time: dtypes from the plan, stand-in pointers with the plan's alignments.
Conv2dArgs plan_args(const Conv2dOp& op, const Memory& host, const std::string& where) {
  Conv2dArgs a = sizes_of(op);
  const PlanOperand x = plan_operand(host, op.x, "x", where), w = plan_operand(host, op.weight, "weight", where),
                    out = plan_operand(host, op.out, "out", where);
  a.x = x.pointer();
  a.x_dtype = x.dtype;
  a.weight = w.pointer();
  a.weight_dtype = w.dtype;
  a.out = const_cast<void*>(out.pointer());
  a.out_dtype = out.dtype;
  if (op.bias) {
    const PlanOperand b = plan_operand(host, *op.bias, "bias", where);
    a.bias = b.pointer();
    a.bias_dtype = b.dtype;
  }
  return a;
}

bool exchanges_halo(const Conv2dOp& op) { return op.kernel == 3 && op.halo.has_value(); }

// Bytes of one halo piece (one image row of every frame), and where the four pieces sit after the convolution's
// own scratch: the rows sent up (this band's first rows), sent down (its last rows), received from above, from below.
struct HaloLayout {
  size_t piece = 0;
  size_t send_up = 0, send_down = 0, from_above = 0, from_below = 0;
  size_t bytes = 0;  // end of the pieces (0: no halo)
};

HaloLayout halo_layout(const Conv2dOp& op, DType x_dtype, size_t conv_bytes) {
  HaloLayout h;
  if (!exchanges_halo(op)) return h;
  h.piece = static_cast<size_t>(op.frames * op.width * op.in_channels * dtype_bytes(x_dtype));
  const size_t step = round_up(h.piece);
  h.send_up = round_up(conv_bytes);
  h.send_down = h.send_up + step;
  h.from_above = h.send_down + step;
  h.from_below = h.from_above + step;
  h.bytes = h.from_below + step;
  return h;
}

// Exchanges the halo rows with the neighbours of this rank's band; returns the pointers the gather reads for the
// rows above and below (null: the image border).
void exchange_halo(const Conv2dOp& op, const DeviceSlot& x, Context& ctx, const HaloLayout& h, const std::string& where,
                   const void** above, const void** below) {
  *above = *below = nullptr;
  const std::string& axis = op.halo->axis;
  const int members = static_cast<int>(ctx.host->group(axis, where).size());
  if (members <= 1) return;
  OD_CHECK(ctx.nccl, where + ": the halo rows of a band come from the other " + std::to_string(members - 1) + " member" +
                         (members == 2 ? "" : "s") + " of the `" + axis + "` group, and this run has no NCCL communicators",
           nccl_built() ? "a CUDA backend defect: multi-rank CUDA runs create their communicators at prepare"
                        : std::string("this build has no NCCL (") + nccl_reason() + "): decode with split whole or tiled, or run with --backend cpu");
  const int position = nccl_position(*ctx.nccl, axis);
  char* s = static_cast<char*>(ctx.scratch);
  const size_t row = h.piece / static_cast<size_t>(op.frames), frame = row * static_cast<size_t>(op.height);
  const char* first = static_cast<const char*>(x.ptr);
  const char* last = first + (static_cast<size_t>(op.height) - 1) * row;
  const bool up = position > 0, down = position + 1 < members;
  if (up) OD_CUDA_CHECK(cudaMemcpy2DAsync(s + h.send_up, row, first, frame, row, static_cast<size_t>(op.frames), cudaMemcpyDeviceToDevice, ctx.stream));
  if (down) OD_CUDA_CHECK(cudaMemcpy2DAsync(s + h.send_down, row, last, frame, row, static_cast<size_t>(op.frames), cudaMemcpyDeviceToDevice, ctx.stream));
#if OPENDIT_WITH_NCCL
  // Non-blocking communicators (cuda/nccl.cu): nccl_settle waits out ncclInProgress, bounded by the run's timeout,
  // and fails naming this rank. Every call of the group is made, the first failure settled after ncclGroupEnd.
  NcclMesh& mesh = *ctx.nccl;
  ncclComm_t comm = static_cast<ncclComm_t>(nccl_comm(mesh, axis));
  nccl_settle(mesh, nullptr, ncclGroupStart(), "ncclGroupStart");
  ncclResult_t r = ncclSuccess;
  const auto keep = [&r](ncclResult_t e) {
    if (r == ncclSuccess) r = e;
  };
  if (up) {
    keep(ncclSend(s + h.send_up, h.piece, ncclUint8, position - 1, comm, ctx.stream));
    keep(ncclRecv(s + h.from_above, h.piece, ncclUint8, position - 1, comm, ctx.stream));
  }
  if (down) {
    keep(ncclSend(s + h.send_down, h.piece, ncclUint8, position + 1, comm, ctx.stream));
    keep(ncclRecv(s + h.from_below, h.piece, ncclUint8, position + 1, comm, ctx.stream));
  }
  const ncclResult_t end = ncclGroupEnd();
  nccl_settle(mesh, comm, r, "ncclSend/ncclRecv of a convolution's halo rows");
  nccl_settle(mesh, comm, end, "ncclGroupEnd of a convolution's halo rows");
#else
  OD_FAIL(where + ": the halo rows need NCCL, which this build does not have", nccl_reason());
#endif
  if (up) *above = s + h.from_above;
  if (down) *below = s + h.from_below;
}

}  // namespace

size_t conv2d_scratch_bytes(const Conv2dOp& op, const Memory& host) {
  const Conv2dArgs a = plan_args(op, host, "conv2d into `" + host.name(op.out) + "`");
  const size_t conv = conv2d_layout(a).bytes;
  const HaloLayout h = halo_layout(op, a.x_dtype, conv);
  return std::max(conv, h.bytes);
}

void prepare_conv2d(const Conv2dOp& op, const Memory& host, Gemm& gemm, const std::string& where) {
  const Conv2dArgs a = plan_args(op, host, where);
  const PlanOperand x = plan_operand(host, op.x, "x", where), out = plan_operand(host, op.out, "out", where);
  OD_CHECK(!x.overlaps(out), where + ": x `" + host.name(op.x) + "` and out `" + host.name(op.out) + "` share bytes in the plan",
           "a plan defect: a convolution cannot run in place (recompile the plan)");
  if (exchanges_halo(op)) {
    const int members = static_cast<int>(host.group(op.halo->axis, where).size());
    OD_CHECK(members <= 1 || nccl_built(),
             where + ": its halo rows come from the other members of the `" + op.halo->axis + "` group over NCCL, which this build does not have",
             std::string(nccl_reason()) + "; decode with split whole or tiled, or run with --backend cpu");
  }
  prepare_conv2d_gemms(a, gemm, where);
}

void run_conv2d(const Conv2dOp& op, Context& ctx) {
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& w = ctx.buf(op.weight);
  const DeviceSlot& out = ctx.buf(op.out);
  Conv2dArgs a = sizes_of(op);
  a.x = x.ptr;
  a.x_dtype = x.dtype;
  a.weight = w.ptr;
  a.weight_dtype = w.dtype;
  a.out = out.ptr;
  a.out_dtype = out.dtype;
  if (op.bias) {
    const DeviceSlot& b = ctx.buf(*op.bias);
    a.bias = b.ptr;
    a.bias_dtype = b.dtype;
  }
  // Errors name the op by its output (the plan's name: no string is built per call).
  const std::string& where = ctx.host->name(op.out);
  if (exchanges_halo(op)) {
    const HaloLayout h = halo_layout(op, x.dtype, conv2d_layout(a).bytes);
    OD_CHECK(ctx.scratch && ctx.scratch_bytes >= h.bytes,
             "conv2d into `" + where + "`: its halo rows need " + std::to_string(h.bytes) + " bytes of scratch, the backend holds " +
                 std::to_string(ctx.scratch_bytes),
             "a CUDA backend defect: check_op must declare conv2d_scratch_bytes");
    exchange_halo(op, x, ctx, h, where, &a.halo_top, &a.halo_bottom);
  }
  launch_conv2d(a, Gemm::of(ctx.lt), ctx.scratch, ctx.scratch_bytes, ctx.stream, where);
}

}  // namespace od::cuda
