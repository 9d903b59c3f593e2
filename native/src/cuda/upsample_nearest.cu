// `upsample_nearest` on the device (compiler/plan/ops.ts UpsampleNearestOp; cpu/upsample_nearest.cpp is the
// reference): the op's launcher over cuda/upsample_nearest_kernel.cu (cuda/decode_kernels.h).
#include "cuda/decode_kernels.h"
#include "cuda/ops.h"

namespace od::cuda {

void run_upsample_nearest(const UpsampleNearestOp& op, Context& ctx) {
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& out = ctx.buf(op.out);
  UpsampleArgs a;
  a.x = x.ptr;
  a.x_dtype = x.dtype;
  a.out = out.ptr;
  a.out_dtype = out.dtype;
  a.frames = op.frames;
  a.height = op.height;
  a.width = op.width;
  a.channels = op.channels;
  a.factor = op.factor;
  launch_upsample_nearest(a, ctx.stream);
}

}  // namespace od::cuda
