#!/usr/bin/env python3
"""The PyTorch baseline of opendit's CUDA step benchmark (scripts/gpu/bench-cuda.mjs): the same architectures
(STDiT-XL/2 at 16x512x512 and 80x512x512, DiT-XL/2 at 256 and 512) with random bf16 weights, one classifier-free
guidance forward per step (the batch of 2: conditional and unconditional rows), on one GPU, eager and
torch.compile (mode default). A measuring instrument, never a dependency of opendit; it needs no internet.

The models are the project's PyTorch reference forwards (test/reference/models), built from the registry's
hyperparameters and checkpoint tables that bench-cuda.mjs writes (`--write-shapes`, the same plans whose
`cost.flopsPerStep` gives the FLOPs both benchmarks divide by). The references are written for float64 golden
files on the CPU, so this script adapts them without editing them:
- attention: the references use a manual softmax(q·kᵀ/√d)·v (common.softmax_attention). `--attention sdpa`
  (the default) swaps in F.scaled_dot_product_attention, as a user's model would run, and a batched masked
  cross-attention in place of the reference's per-sample packing of valid tokens (the same result; every token
  is valid here, as in bench-cuda.mjs, so no mask is passed). `--attention manual` keeps the references as written.
- the forward loops are repeated here without the per-block outputs the references collect for golden files
  (which would keep 28 activations alive and inflate the peak memory).
- torch.set_default_device("cuda"): the references build their position tables with torch.arange.

Per case and mode: milliseconds per step (median and min of --iters after --warmup calls, CUDA events),
TFLOP/s (the opendit plan's FLOPs per step), the peak of torch.cuda.max_memory_allocated during the timed calls,
and for torch.compile the seconds of the first (compiling) call. torch.compile compiles the transformer block
once and reuses it for every block (regional compilation, as diffusers' compile_repeated_blocks does: compiling
the whole forward, 28 unrolled blocks, takes minutes per shape) unless --compile-scope model. Then the attention
shapes alone through F.scaled_dot_product_attention (default choice and each backend forced): STDiT's spatial
(2·T sequences × 16 heads × 1024 tokens × head dim 72), temporal (2·1024 sequences × T frames) and cross
(T·1024 queries × 120 text tokens) attention, and DiT's self-attention. Writes JSON to --json (default
$OUT/pytorch.json when $OUT is set, else pytorch.json) after every case, and prints a table last.

    python3 bench/pytorch_baseline.py [--shapes FILE] [--cases a,b] [--modes eager,compile]
                                      [--attention sdpa|manual] [--compile-scope block|model]
                                      [--iters 10] [--warmup 3] [--json FILE]
Without --shapes it runs `node scripts/gpu/bench-cuda.mjs --write-shapes` (Node and dist/ must be there).
"""

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "reference"))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", help="bench-cuda.mjs --write-shapes output (default: run it now)")
    ap.add_argument("--smoke", action="store_true", help="with no --shapes: the tiny variants (bench-cuda.mjs --smoke)")
    ap.add_argument("--cases", help="comma-separated case names (default all)")
    ap.add_argument("--modes", default="eager,compile", help="eager, compile, or both (default eager,compile)")
    ap.add_argument("--compile-cases", help="cases to also run under torch.compile (default: all of --cases)")
    ap.add_argument("--attention", choices=["sdpa", "manual"], default="sdpa")
    ap.add_argument("--compile-scope", choices=["block", "model"], default="block",
                    help="torch.compile each transformer block once and reuse it (regional compilation, the default: "
                         "fast to compile) or the whole forward (slower to compile, may fuse across blocks)")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--sdpa-iters", type=int, default=20)
    ap.add_argument("--no-sdpa-bench", action="store_true", help="skip the attention-only measurements")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json", default=os.path.join(os.environ["OUT"], "pytorch.json") if os.environ.get("OUT") else "pytorch.json")
    return ap.parse_args()


def load_shapes(args):
    if args.shapes:
        with open(args.shapes) as f:
            return json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "shapes.json")
        cmd = ["node", os.path.join(ROOT, "scripts", "gpu", "bench-cuda.mjs"), "--write-shapes", path] + (["--smoke"] if args.smoke else [])
        subprocess.run(cmd, check=True, cwd=ROOT)
        with open(path) as f:
            return json.load(f)


def main():
    args = parse_args()
    shapes = load_shapes(args)

    import torch
    import torch._dynamo
    import torch.nn.functional as F

    from models import common
    from models import dit as dit_ref
    from models import stdit as stdit_ref

    device = torch.device(args.device)
    torch.set_default_device(device)
    bf16 = torch.bfloat16
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    # ---- attention: the references' manual softmax, or SDPA ----
    if args.attention == "sdpa":
        def sdpa(q, k, v):
            if q.dim() == 3:  # the reference cross-attention's per-sample [heads, tokens, hd]
                return F.scaled_dot_product_attention(q[None], k[None], v[None])[0]
            return F.scaled_dot_product_attention(q, k, v)

        def cross_attention_batched(w, prefix, x, y, mask, heads):
            """common.cross_attention with every sample's tokens at once (equal when every token is valid)."""
            b, n, d = x.shape
            hd = d // heads
            q = common.linear(w, f"{prefix}.q_linear", x).reshape(b, n, heads, hd).transpose(1, 2)
            kv = common.linear(w, f"{prefix}.kv_linear", y).reshape(b, -1, 2, heads, hd)
            k = kv[:, :, 0].transpose(1, 2)
            v = kv[:, :, 1].transpose(1, 2)
            o = F.scaled_dot_product_attention(q, k, v)
            return common.linear(w, f"{prefix}.proj", o.transpose(1, 2).reshape(b, n, d))

        common.softmax_attention = sdpa  # self_attention looks it up in common's globals
        stdit_ref.cross_attention = cross_attention_batched  # stdit_block's imported name

    # ---- the forwards: the references' loops, without collecting every block's output ----
    # `block`/`per_block`: regional compilation (--compile-scope block): the block function compiled once and called
    # with each block's weights under the one prefix "blk", so every block after the first reuses its graph.
    def stdit_forward(w, hyper, batch, settings, block=None, per_block=None):
        d, p, pt, heads = hyper["hidden"], hyper["patch"], hyper["patchT"], hyper["heads"]
        tok, (frames, rows, cols) = common.patch_embed_3d(w, "x_embedder", batch["latent"], (pt, p, p))
        b, tokens = tok.shape[0], rows * cols
        coord = 1.0 / settings["space_scale"]
        pos = common.sincos_2d(d, rows, cols, coord, coord, tok.dtype)
        tok = (tok.reshape(b, frames, tokens, d) + pos).reshape(b, frames * tokens, d)
        t = common.timestep_mlp(w, "t_embedder", batch["timestep"])
        t0 = common.linear(w, "t_block.1", F.silu(t))
        y = common.caption_projection(w, "y_embedder", batch["text"])
        tpe = common.sincos_1d(d, torch.arange(frames, dtype=tok.dtype) / settings["time_scale"])
        for i in range(hyper["depth"]):
            args_i = (tok, t0, y, batch["mask"], heads, frames, tokens, tpe if i == 0 else None)
            if per_block is None:
                tok = stdit_ref.stdit_block(w, f"blocks.{i}", *args_i)
            else:
                tok = block(per_block[i], "blk", *args_i)
        out = common.t2i_final_layer(w, "final_layer", tok, t)
        return common.unpatchify(out, (frames, rows, cols), (pt, p, p), hyper["outChannels"])

    def dit_forward(w, hyper, batch, settings, block=None, per_block=None):
        d, p, heads = hyper["hidden"], hyper["patch"], hyper["heads"]
        tok, (rows, cols) = common.patch_embed_2d(w, "x_embedder", batch["latent"][:, :, 0], p)
        tok = tok + common.sincos_2d(d, rows, cols, 1.0, 1.0, tok.dtype)
        c = common.timestep_mlp(w, "t_embedder", batch["timestep"]) + w["y_embedder.embedding_table.weight"][batch["labels"]]
        for i in range(hyper["depth"]):
            if per_block is None:
                tok = dit_ref.dit_block(w, f"blocks.{i}", tok, c, heads)
            else:
                tok = block(per_block[i], "blk", tok, c, heads)
        out = dit_ref.dit_final_layer(w, tok, c)
        return common.unpatchify(out, (1, rows, cols), (1, p, p), hyper["outChannels"])

    forwards = {"stdit": stdit_forward, "dit": dit_forward}
    # stdit_ref.stdit_block is looked up now, after the cross-attention swap above (it reads stdit_ref's globals).
    blocks = {"stdit": stdit_ref.stdit_block, "dit": dit_ref.dit_block}

    def per_block_weights(w, depth):
        """Each block's weights renamed blocks.<i>.<rest> -> blk.<rest> (the same dict keys for every block)."""
        out = []
        for i in range(depth):
            p = f"blocks.{i}."
            out.append({"blk." + k[len(p):]: v for k, v in w.items() if k.startswith(p)})
        return out

    # ---- random weights on the device, scaled so activations stay O(1) ----
    def random_weights(table, seed):
        g = torch.Generator(device=device)
        g.manual_seed(seed)
        w = {}
        for entry in table:
            name, shape = entry["name"], tuple(entry["shape"])
            z = torch.randn(shape, generator=g, dtype=torch.float32)
            if name.endswith(("q_norm.weight", "k_norm.weight")):
                v = 1.0 + 0.2 * z
            elif name.endswith("scale_shift_table"):
                v = 0.3 * z
            elif name.endswith(("embedding_table.weight", "y_embedding")):
                v = z
            elif name.endswith(".bias") or len(shape) < 2:
                v = 0.02 * z
            else:
                v = z / math.sqrt(math.prod(shape[1:]))
            w[name] = v.to(bf16)
            del z
        return w

    def inputs_of(case, w):
        h, n = case["hyper"], case["samples"]
        lat = case["latent"]
        latent = torch.randn((n, lat["channels"], lat["frames"], lat["height"], lat["width"]), dtype=bf16)
        batch = {"latent": torch.cat([latent, latent]), "timestep": torch.full((2 * n,), 500.0, dtype=bf16)}
        if case["family"] == "dit":
            batch["labels"] = torch.tensor([207 % h["numClasses"]] * n + [h["numClasses"]] * n, dtype=torch.long)
        else:
            L, C = h["textTokens"], h["captionChannels"]
            text = torch.randn((n, L, C), dtype=bf16)
            batch["text"] = torch.cat([text, w["y_embedder.y_embedding"][None].expand(n, -1, -1)])
            batch["mask"] = torch.ones((2 * n, L), dtype=torch.int32)
        return batch

    def timed(fn, warmup, iters):
        for _ in range(warmup):
            fn()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        ms = []
        for _ in range(iters):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            ms.append(start.elapsed_time(end))
        return statistics.median(ms), min(ms), torch.cuda.max_memory_allocated()

    props = torch.cuda.get_device_properties(device)
    env = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "device": props.name,
        "deviceMemoryBytes": props.total_memory,
        "attention": args.attention,
    }
    print(f"pytorch baseline: torch {env['torch']} (CUDA {env['cuda']}), {env['device']}, attention {args.attention}", flush=True)

    results = []
    attention = []

    def dump():
        """Writes what is measured so far (a run stopped at its time limit still leaves its figures)."""
        with open(args.json, "w") as f:
            json.dump({"benchmark": "pytorch-baseline", "env": env, "iters": args.iters, "warmup": args.warmup,
                       "models": results, "attention": attention}, f, indent=2)

    wanted = set(args.cases.split(",")) if args.cases else None
    compile_wanted = set(args.compile_cases.split(",")) if args.compile_cases else None
    modes = [m for m in args.modes.split(",") if m]
    for case in shapes["cases"]:
        if wanted and case["name"] not in wanted:
            continue
        forward = forwards.get(case["family"])
        if forward is None:
            print(f"{case['name']}: no forward for family {case['family']}", flush=True)
            continue
        w = random_weights(case["weights"], 1)
        weight_bytes = sum(t.numel() * t.element_size() for t in w.values())
        batch = inputs_of(case, w)
        hyper, settings = case["hyper"], case["settings"]

        for mode in modes:
            if mode == "compile" and compile_wanted and case["name"] not in compile_wanted:
                continue
            row = {"name": case["name"], "variant": case["variant"], "mode": mode, "batch": case["batch"],
                   "frames": case["frames"], "height": case["height"], "width": case["width"],
                   "flopsPerStep": case["flopsPerStep"], "weightBytes": weight_bytes}
            results.append(row)
            try:
                with torch.inference_mode():
                    if mode == "eager":
                        run = forward
                    elif mode == "compile":
                        torch._dynamo.reset()
                        if args.compile_scope == "model":
                            run = torch.compile(forward)
                        else:
                            compiled_block = torch.compile(blocks[case["family"]])
                            per_block = per_block_weights(w, hyper["depth"])

                            def run(w, hyper, batch, settings, forward=forward, cb=compiled_block, pb=per_block):
                                return forward(w, hyper, batch, settings, block=cb, per_block=pb)
                        row["compileScope"] = args.compile_scope
                        started = time.perf_counter()
                        run(w, hyper, batch, settings)
                        torch.cuda.synchronize()
                        row["compileSeconds"] = time.perf_counter() - started
                    else:
                        raise ValueError(f"unknown mode {mode}")

                    def fn(run=run, w=w, hyper=hyper, batch=batch, settings=settings):
                        return run(w, hyper, batch, settings)

                    out = fn()
                    row["nonFinite"] = int((~torch.isfinite(out.float())).sum().item())
                    del out
                    med, low, peak = timed(fn, args.warmup, args.iters)
                row.update({"msPerStep": med, "msPerStepMin": low, "peakBytes": peak,
                            "tflops": case["flopsPerStep"] / (med / 1000) / 1e12})
                print(f"{case['name']} {mode}: {med:.2f} ms/step, {row['tflops']:.1f} TFLOP/s, peak {peak / 2**30:.2f} GiB"
                      + (f", compile {row['compileSeconds']:.0f} s" if "compileSeconds" in row else ""), flush=True)
            except Exception as e:  # noqa: BLE001 - a failed case is reported, the others still run
                row["error"] = f"{type(e).__name__}: {e}"[:2000]
                print(f"{case['name']} {mode}: FAILED: {row['error'][:300]}", flush=True)
            dump()
            gc.collect()
            torch.cuda.empty_cache()
        # drop every reference to this case's tensors before the next case allocates its own
        w = batch = run = fn = compiled_block = per_block = None
        gc.collect()
        torch.cuda.empty_cache()

    # ---- attention alone ----
    if not args.no_sdpa_bench:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        seen = set()
        shapes_sdpa = []
        for case in shapes["cases"]:
            if wanted and case["name"] not in wanted:
                continue
            h, tok, b = case["hyper"], case["tokens"], case["batch"]
            heads, hd = h["heads"], h["headDim"]
            s = tok["rows"] * tok["cols"]
            t = tok["frames"]
            if case["family"] == "stdit":
                shapes_sdpa += [
                    (f"{case['name']} spatial", b * t, heads, s, s, hd),
                    (f"{case['name']} temporal", b * s, heads, t, t, hd),
                    (f"{case['name']} cross", b, heads, t * s, h["textTokens"], hd),
                ]
            else:
                shapes_sdpa.append((f"{case['name']} self", b, heads, s * t, s * t, hd))
        backends = [("default", None), ("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION),
                    ("efficient", SDPBackend.EFFICIENT_ATTENTION)]
        for name, bsz, heads, lq, lk, hd in shapes_sdpa:
            key = (bsz, heads, lq, lk, hd)
            if key in seen:
                continue
            seen.add(key)
            q = torch.randn((bsz, heads, lq, hd), dtype=bf16)
            k = torch.randn((bsz, heads, lk, hd), dtype=bf16)
            v = torch.randn((bsz, heads, lk, hd), dtype=bf16)
            flops = 4.0 * bsz * heads * lq * lk * hd
            row = {"name": name, "shape": [bsz, heads, lq, lk, hd], "flops": flops}
            for label, backend in backends:
                try:
                    with torch.inference_mode():
                        if backend is None:
                            med, _, _ = timed(lambda: F.scaled_dot_product_attention(q, k, v), 3, args.sdpa_iters)
                        else:
                            with sdpa_kernel([backend]):
                                med, _, _ = timed(lambda: F.scaled_dot_product_attention(q, k, v), 3, args.sdpa_iters)
                    row[label] = {"ms": med, "tflops": flops / (med / 1000) / 1e12}
                except Exception as e:  # noqa: BLE001
                    row[label] = {"error": f"{type(e).__name__}: {e}"[:300]}
            attention.append(row)
            del q, k, v
            torch.cuda.empty_cache()

    dump()

    print()
    print(f"PyTorch baseline ({env['device']}, torch {env['torch']}, attention {args.attention}): "
          f"one CFG forward per step, bf16, median of {args.iters} after {args.warmup} warm-up")
    print(f"{'case':<20} {'mode':<8} {'ms/step':>9} {'min':>9} {'TFLOP/s':>8} {'peak GiB':>9} {'compile s':>10}")
    for r in results:
        if "error" in r:
            print(f"{r['name']:<20} {r['mode']:<8} FAILED: {r['error'][:100]}")
            continue
        comp = f"{r['compileSeconds']:.0f}" if "compileSeconds" in r else "-"
        print(f"{r['name']:<20} {r['mode']:<8} {r['msPerStep']:>9.2f} {r['msPerStepMin']:>9.2f} {r['tflops']:>8.1f} "
              f"{r['peakBytes'] / 2**30:>9.2f} {comp:>10}")
    if attention:
        print()
        print("SDPA alone, TFLOP/s (4·B·H·Lq·Lk·hd): default / flash / cudnn / efficient")
        for r in attention:
            cells = []
            for label in ("default", "flash", "cudnn", "efficient"):
                x = r.get(label, {})
                cells.append(f"{x['tflops']:.0f}" if "tflops" in x else "-")
            b, hh, lq, lk, hd = r["shape"]
            print(f"{r['name']:<32} [{b}x{hh}, {lq}x{lk}, {hd}]".ljust(64) + " / ".join(cells))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
