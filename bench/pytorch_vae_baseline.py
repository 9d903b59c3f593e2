#!/usr/bin/env python3
"""The PyTorch baseline of opendit's VAE decode benchmark (scripts/gpu/bench-vae.mjs): the SD-VAE decoder
(AutoencoderKL f8, sd-vae-ft-ema's architecture, ../shared/reference/models.md §10.1) with random bf16 weights under
the official diffusers names, decoding 16 and 80 frames of 512x512 (latents [frames, 4, 64, 64]) frame batch by
frame batch on one GPU, as a video pipeline decodes per frame. A measuring instrument, never a dependency of opendit;
it needs no internet and does not import diffusers.

The decoder is written here on the functional ops a diffusers AutoencoderKL runs (F.conv2d, F.group_norm, F.silu,
F.interpolate nearest, F.scaled_dot_product_attention for the mid-block attention, as diffusers' AttnProcessor2_0),
from the state dict's names and shapes: test/reference/vae/sd_vae.py `decoder_tensors` gives the table (the
goldens' reference itself computes GroupNorm and attention by hand for float64 accuracy, slower than a user's
model). Weights: conv and linear z / sqrt(fan_in), biases 0.02 z, GroupNorm weights 1 + 0.2 z, bias 0.02 z; the
latents standard normals times the 0.18215 scale.

Modes: `eager` (NCHW, as diffusers runs), `channels_last` (NHWC tensors: cuDNN's faster layout for bf16 on Hopper,
what a tuned deployment uses), `compile` (torch.compile of the decoder on NHWC, default mode). Per case (frames,
frames per pass) and mode: the whole decode of all frames timed with CUDA events after --warmup untimed passes
(median of --iters), reporting ms per frame, total seconds, torch.cuda.max_memory_allocated and
max_memory_reserved during the timed decodes. A batch that does not fit is recorded as out of memory. Writes JSON to
--json (default $OUT/pytorch-vae.json when $OUT is set, else pytorch-vae.json) after every case, and prints a table.

    python3 bench/pytorch_vae_baseline.py [--frames 16,80] [--fpp 1,4] [--size 512] [--modes eager,channels_last]
                                          [--iters 3] [--warmup 1] [--json FILE] [--smoke]
--smoke: the tiny sizes of bench-vae.mjs --smoke (4 frames of 64x64), on the CPU when there is no GPU (a check of
this script, not a measurement).
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "reference", "vae"))

SCALE = 0.18215
GROUPS = 32
EPS = 1e-6
BLOCK_OUT = [128, 256, 512, 512]
LAYERS_PER_BLOCK = 2
LATENT_CHANNELS = 4


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", default="16,80", help="comma-separated frame counts (default 16,80)")
    ap.add_argument("--fpp", default="1,4", help="comma-separated frames per pass (default 1,4)")
    ap.add_argument("--size", type=int, default=512, help="image height and width (default 512)")
    ap.add_argument("--modes", default="eager,channels_last", help="eager, channels_last, compile (default eager,channels_last)")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="untimed batches before the timed decodes (default 1)")
    ap.add_argument("--smoke", action="store_true", help="4 frames of 64x64, fpp 1 and 2 (on the CPU without a GPU)")
    ap.add_argument("--device", default=None, help="default cuda (cpu with --smoke and no GPU)")
    ap.add_argument("--json", default=os.path.join(os.environ["OUT"], "pytorch-vae.json") if os.environ.get("OUT") else "pytorch-vae.json")
    return ap.parse_args()


def main():
    args = parse_args()
    import torch
    import torch.nn.functional as F

    from sd_vae import decoder_tensors

    if args.smoke:
        args.frames, args.fpp, args.size = "4", "1,2", 64
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() or not args.smoke else "cpu"))
    cuda = device.type == "cuda"
    bf16 = torch.bfloat16
    torch.backends.cudnn.benchmark = True  # cuDNN picks its fastest convolution per shape, as tuned deployments do

    # ---- weights: the official diffusers names and shapes ----
    def random_weights(seed):
        g = torch.Generator(device="cpu")
        g.manual_seed(seed)
        w = {}
        for name, shape in decoder_tensors(LATENT_CHANNELS, BLOCK_OUT, LAYERS_PER_BLOCK):
            z = torch.randn(shape, generator=g, dtype=torch.float32)
            if "norm" in name and name.endswith(".weight"):
                v = 1.0 + 0.2 * z
            elif name.endswith(".bias"):
                v = 0.02 * z
            else:
                v = z / math.sqrt(math.prod(shape[1:]))
            w[name] = v.to(device=device, dtype=bf16)
        return w

    # ---- the decoder (models.md §10.1) on functional ops ----
    def conv(w, prefix, x):
        k = w[f"{prefix}.weight"].shape[-1]
        return F.conv2d(x, w[f"{prefix}.weight"], w[f"{prefix}.bias"], padding=(k - 1) // 2)

    def norm(w, prefix, x):
        return F.group_norm(x, GROUPS, w[f"{prefix}.weight"], w[f"{prefix}.bias"], EPS)

    def resnet(w, prefix, x):
        h = conv(w, f"{prefix}.conv1", F.silu(norm(w, f"{prefix}.norm1", x)))
        h = conv(w, f"{prefix}.conv2", F.silu(norm(w, f"{prefix}.norm2", h)))
        if f"{prefix}.conv_shortcut.weight" in w:
            x = conv(w, f"{prefix}.conv_shortcut", x)
        return x + h

    def attention(w, prefix, x):
        n, c, h, wd = x.shape
        t = norm(w, f"{prefix}.group_norm", x).reshape(n, c, h * wd).transpose(1, 2)  # [N, HW, C]
        q = F.linear(t, w[f"{prefix}.to_q.weight"], w[f"{prefix}.to_q.bias"])
        k = F.linear(t, w[f"{prefix}.to_k.weight"], w[f"{prefix}.to_k.bias"])
        v = F.linear(t, w[f"{prefix}.to_v.weight"], w[f"{prefix}.to_v.bias"])
        o = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]  # one head of C
        o = F.linear(o, w[f"{prefix}.to_out.0.weight"], w[f"{prefix}.to_out.0.bias"])
        return x + o.transpose(1, 2).reshape(n, c, h, wd)

    def decode(w, z, memory_format):
        x = conv(w, "post_quant_conv", (z / SCALE).contiguous(memory_format=memory_format))
        x = conv(w, "decoder.conv_in", x)
        x = resnet(w, "decoder.mid_block.resnets.0", x)
        x = attention(w, "decoder.mid_block.attentions.0", x)
        x = resnet(w, "decoder.mid_block.resnets.1", x)
        for i in range(len(BLOCK_OUT)):
            for j in range(LAYERS_PER_BLOCK + 1):
                x = resnet(w, f"decoder.up_blocks.{i}.resnets.{j}", x)
            if i < len(BLOCK_OUT) - 1:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
                x = conv(w, f"decoder.up_blocks.{i}.upsamplers.0.conv", x)
        x = F.silu(norm(w, "decoder.conv_norm_out", x))
        return conv(w, "decoder.conv_out", x)

    w = random_weights(1)
    weight_bytes = sum(t.numel() * t.element_size() for t in w.values())

    env = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": str(device)}
    if cuda:
        props = torch.cuda.get_device_properties(device)
        env.update({"cudnn": torch.backends.cudnn.version(), "gpu": props.name, "deviceMemoryBytes": props.total_memory})
    print(f"pytorch vae baseline: torch {env['torch']} (CUDA {env['cuda']}), {env.get('gpu', device)}, weights {weight_bytes / 2**20:.0f} MiB bf16",
          flush=True)

    results = []

    def dump():
        with open(args.json, "w") as f:
            json.dump({"benchmark": "pytorch-vae-decode", "env": env, "size": args.size, "iters": args.iters, "warmup": args.warmup,
                       "weightBytes": weight_bytes, "cases": results}, f, indent=2)

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    latent_hw = args.size // 8
    modes = [m for m in args.modes.split(",") if m]
    for mode in modes:
        if mode not in ("eager", "channels_last", "compile"):
            raise SystemExit(f"--modes: {mode} is not eager, channels_last or compile")
        memory_format = torch.contiguous_format if mode == "eager" else torch.channels_last
        # NHWC modes keep the convolution weights NHWC too (model.to(memory_format=torch.channels_last)).
        wm = {k: (v.contiguous(memory_format=memory_format) if v.dim() == 4 else v) for k, v in w.items()}
        if mode == "compile":
            fn = torch.compile(lambda z, wm=wm, mf=memory_format: decode(wm, z, mf))
        else:
            fn = lambda z, wm=wm, mf=memory_format: decode(wm, z, mf)  # noqa: E731
        for frames in [int(x) for x in args.frames.split(",") if x]:
            g = torch.Generator(device="cpu")
            g.manual_seed(frames)
            latents = (torch.randn((frames, LATENT_CHANNELS, latent_hw, latent_hw), generator=g) * SCALE).to(device=device, dtype=bf16)
            for fpp in [int(x) for x in args.fpp.split(",") if x]:
                name = f"vae-{frames}x{args.size}-fpp{fpp}"
                row = {"name": name, "mode": mode, "frames": frames, "framesPerPass": fpp, "height": args.size, "width": args.size}
                results.append(row)
                out = None

                def run_all():
                    nonlocal out
                    with torch.inference_mode():
                        for t0 in range(0, frames, fpp):
                            out = fn(latents[t0:t0 + fpp])

                try:
                    started = time.perf_counter()
                    with torch.inference_mode():
                        for _ in range(args.warmup):
                            fn(latents[:fpp])
                    sync()
                    row["warmupSeconds"] = time.perf_counter() - started
                    if cuda:
                        torch.cuda.reset_peak_memory_stats(device)
                    seconds = []
                    for _ in range(args.iters):
                        if cuda:
                            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                            start.record()
                            run_all()
                            end.record()
                            end.synchronize()
                            seconds.append(start.elapsed_time(end) / 1000)
                        else:
                            t = time.perf_counter()
                            run_all()
                            seconds.append(time.perf_counter() - t)
                    total = statistics.median(seconds)
                    row.update({"totalSeconds": total, "totalSecondsMin": min(seconds), "msPerFrame": 1000 * total / frames,
                                "outputShape": list(out.shape), "nonFinite": int((~torch.isfinite(out)).sum().item())})
                    if cuda:
                        row["peakBytes"] = torch.cuda.max_memory_allocated(device)
                        row["reservedBytes"] = torch.cuda.max_memory_reserved(device)
                    print(f"{name} {mode}: {row['msPerFrame']:.2f} ms/frame, {total:.2f} s total"
                          + (f", peak {row['peakBytes'] / 2**30:.2f} GiB" if cuda else ""), flush=True)
                except torch.cuda.OutOfMemoryError as e:  # a batch that does not fit
                    row["error"] = f"out of memory: {str(e).splitlines()[0]}"
                    print(f"{name} {mode}: {row['error']}", flush=True)
                except Exception as e:  # noqa: BLE001 (recorded, the other cases still run)
                    row["error"] = f"{type(e).__name__}: {e}"
                    print(f"{name} {mode}: FAILED: {row['error']}", flush=True)
                out = None
                if cuda:
                    torch.cuda.empty_cache()
                dump()
            del latents
        del wm, fn

    print()
    print(f"{'case':<20} {'mode':<14} {'ms/frame':>9} {'total s':>8} {'peak GiB':>9} {'reserved GiB':>12}")
    gib = lambda b: "-" if not b else f"{b / 2**30:.2f}"  # noqa: E731
    for r in results:
        if "error" in r:
            print(f"{r['name']:<20} {r['mode']:<14} {r['error'][:60]}")
            continue
        print(f"{r['name']:<20} {r['mode']:<14} {r['msPerFrame']:>9.2f} {r['totalSeconds']:>8.2f} {gib(r.get('peakBytes')):>9} {gib(r.get('reservedBytes')):>12}")
    dump()
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
