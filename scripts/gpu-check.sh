#!/usr/bin/env bash
# Builds, checks and benchmarks the CUDA backend on the GPU machine, in one call (../shared/gpu/README.md), from
# the repository root, after `bash scripts/pack-gpu.sh` here packed .gpu/ (Node, dist/, a production
# node_modules). Steps, each run whatever the earlier ones gave (an exit status recorded per step):
#   setup         Node into /opt/node, node_modules and dist/ into the repository root
#   build         the addon with the CUDA backend (cmake-js, nvcc from /usr/local/cuda); the configure summary
#   native-tests  native/test/cuda_{gemm,generator,attention,ring,vae,overlap}_test.cu (NATIVE_TESTS: a subset), each built with nvcc and run (a missing
#                 one is skipped with a line saying so). A test's sources are those of a `// gpu-check-sources:`
#                 line in it, else the defaults below (the build commands the tests' headers give). Where cuDNN is
#                 found (cudnn.h and libcudnn.so in CUDNN_ROOT or the system dirs), a test with a
#                 `// gpu-check-cudnn-sources:` line also gets those sources, -DOPENDIT_WITH_CUDNN=1 and -lcudnn
#   check         node scripts/gpu/check-cuda.mjs: CUDA vs CPU per op and whole runs, every family
#   bench         node scripts/gpu/bench-cuda.mjs: opendit's step time, STDiT-XL/2 and DiT-XL/2
#   pytorch       python3 bench/pytorch_baseline.py: the same models in PyTorch, eager and torch.compile
#   vae           node scripts/gpu/check-vae.mjs: the VAE decode, CUDA vs CPU (the goldens' tiny decoder and the
#                 full-size one, fp32 and bf16; the row split over GPUs where there are several)
#   vae-bench     python3 bench/pytorch_vae_baseline.py (PyTorch's decode of the same decoder, step pytorch-vae),
#                 then node scripts/gpu/bench-vae.mjs: opendit's decode of 16 and 80 frames of 512x512, ms per
#                 frame and memory, against PyTorch's
# vae and vae-bench are not in the default steps (the budget): GPU_CHECK_STEPS=build,native-tests,vae,vae-bench.
# (setup, build and the step table are scripts/gpu/common.sh's, shared with scripts/gpu-multi.sh.)
# The whole log is $OUT/gpu-check.log; the figures $OUT/check-cuda.json, $OUT/opendit-cuda.json, $OUT/pytorch.json
# (and $OUT/check-vae.json, $OUT/opendit-vae.json, $OUT/pytorch-vae.json);
# the last lines printed (and $OUT/summary.txt) are the step table and opendit against PyTorch. Exit status 1 when
# any step failed.
#
# Knobs (environment): GPU_CHECK_STEPS (default "build,native-tests,check,bench,pytorch"; setup always runs),
# CHECK_ARGS, BENCH_ARGS, PT_ARGS, VAE_CHECK_ARGS, VAE_BENCH_ARGS, PT_VAE_ARGS (extra arguments of the scripts,
# e.g. VAE_BENCH_ARGS="--frames 16 --worlds 1"), GPU_CHECK_BUDGET (seconds the whole
# script may take, default 570: each step's time limit is cut to what is left, so the table is always printed).
#
# Device call (from the lead's machine, after `bash scripts/pack-gpu.sh`):
#   run(command: "bash scripts/gpu-check.sh", carry: [".gpu"], timeout_s: 600)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/outputs/gpu-check}
mkdir -p "$OUT"
LOG=$OUT/gpu-check.log
: >"$LOG"
rm -f "$OUT/check-cuda.json" "$OUT/opendit-cuda.json" "$OUT/pytorch.json" "$OUT/summary.txt"
rm -f "$OUT/check-vae.json" "$OUT/opendit-vae.json" "$OUT/pytorch-vae.json"
STEPS=${GPU_CHECK_STEPS:-build,native-tests,check,bench,pytorch}
BUDGET=${GPU_CHECK_BUDGET:-570}
export PYTHONUNBUFFERED=1

# wanted, limit, record, step; setup_gpu_machine (GPU_NAME, GPU_PROFILE); build_addon (build_ok)
# shellcheck source=scripts/gpu/common.sh
source "$ROOT/scripts/gpu/common.sh"

# ---- setup ----
setup_gpu_machine

# ---- build ----
build_addon

# ---- standalone native GPU tests ----
if wanted native-tests; then
  mkdir -p build/gpu-tests
  # cuDNN for the tests that can use it (optional: without it they build without their cuDNN parts).
  cudnn_flags=""
  cudnn_inc=""
  for d in ${CUDNN_ROOT:+$CUDNN_ROOT/include} /usr/include/x86_64-linux-gnu /usr/include /usr/local/cuda/include; do
    [[ -f $d/cudnn.h ]] && { cudnn_inc=$d; break; }
  done
  cudnn_lib=""
  for d in ${CUDNN_ROOT:+$CUDNN_ROOT/lib64 $CUDNN_ROOT/lib} /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/cuda/lib64; do
    [[ -e $d/libcudnn.so ]] && { cudnn_lib=$d; break; }
  done
  if [[ -n $cudnn_inc && -n $cudnn_lib ]]; then
    cudnn_flags="-DOPENDIT_WITH_CUDNN=1"
    [[ $cudnn_inc == /usr/include || $cudnn_inc == /usr/include/x86_64-linux-gnu ]] || cudnn_flags+=" -I$cudnn_inc"
    [[ $cudnn_lib == /usr/lib/x86_64-linux-gnu || $cudnn_lib == /usr/lib64 || $cudnn_lib == /usr/lib ]] ||
      cudnn_flags+=" -L$cudnn_lib -Xlinker -rpath=$cudnn_lib"
    cudnn_flags+=" -lcudnn"
    echo "native tests: cuDNN found ($cudnn_inc/cudnn.h, $cudnn_lib/libcudnn.so)" | tee -a "$LOG"
  else
    echo "native tests: cuDNN not found (cudnn.h: ${cudnn_inc:-none}, libcudnn.so: ${cudnn_lib:-none}): tests without their cuDNN parts" | tee -a "$LOG"
  fi
  for t in ${NATIVE_TESTS:-cuda_gemm_test cuda_generator_test cuda_attention_test cuda_ring_test cuda_vae_test cuda_overlap_test}; do
    src=native/test/$t.cu
    if [[ ! -f $src ]]; then
      echo "---- $t: skipped ($src is missing)"
      record "$t" skip 0 "$src is missing"
      continue
    fi
    listed=$(sed -n 's#^// *gpu-check-sources: *##p' "$src" | head -1)
    case $t in
      cuda_gemm_test) defaults="native/src/cuda/gemm.cu native/src/core/error.cpp"; flags="-lcublasLt" ;;
      cuda_generator_test) defaults="native/src/checkpoint/generator.cpp native/src/core/error.cpp"; flags="-Xcompiler -ffp-contract=off" ;;
      cuda_attention_test) defaults="native/src/cuda/attention_kernel.cu native/src/core/error.cpp"; flags="" ;;
      cuda_ring_test) defaults="native/src/cuda/attention_kernel.cu native/src/cuda/ring_fold.cu native/src/core/error.cpp"; flags="" ;;
      cuda_overlap_test) defaults="native/src/cuda/overlap_spans.cpp native/src/cuda/overlap_streams.cu native/src/plan/parse.cpp native/src/core/json.cpp native/src/core/error.cpp"; flags="" ;;
      cuda_vae_test) defaults="native/src/cuda/conv2d_kernel.cu native/src/cuda/group_norm_kernel.cu native/src/cuda/upsample_nearest_kernel.cu native/src/cuda/attention_gemm.cu native/src/cuda/gemm.cu native/src/core/error.cpp"; flags="-lcublasLt" ;;
    esac
    sources=""
    for s in ${listed:-$defaults}; do [[ -f $s ]] && sources+=" $s"; done
    cudnn_listed=$(sed -n 's#^// *gpu-check-cudnn-sources: *##p' "$src" | head -1)
    if [[ -n $cudnn_listed && -n $cudnn_flags ]]; then
      for s in $cudnn_listed; do [[ -f $s ]] && sources+=" $s"; done
      flags+=" $cudnn_flags"
    fi
    # shellcheck disable=SC2086
    step "$t" 240 15 bash -c "nvcc -std=c++17 -arch=sm_90 -O3 -Inative/src $flags $src $sources -o build/gpu-tests/$t && ./build/gpu-tests/$t"
  done
fi

# ---- CUDA vs CPU ----
if wanted check; then
  if ((build_ok)); then
    # shellcheck disable=SC2086
    step check 240 45 node scripts/gpu/check-cuda.mjs --json "$OUT/check-cuda.json" ${CHECK_ARGS:-}
  else
    echo "---- check: skipped (no addon built)"; record check 1 0 "no addon built"
  fi
fi

# ---- opendit's step time ----
if wanted bench; then
  if ((build_ok)); then
    # shellcheck disable=SC2086
    step bench 300 14 node scripts/gpu/bench-cuda.mjs --gpu "$GPU_PROFILE" --json "$OUT/opendit-cuda.json" ${BENCH_ARGS:-}
  else
    echo "---- bench: skipped (no addon built)"; record bench 1 0 "no addon built"
  fi
fi

# ---- the PyTorch baseline ----
if wanted pytorch; then
  shapes=$(mktemp /tmp/bench-shapes.XXXXXX.json)
  if node scripts/gpu/bench-cuda.mjs --gpu "$GPU_PROFILE" --write-shapes "$shapes" >>"$LOG" 2>&1; then
    # shellcheck disable=SC2086
    step pytorch 400 30 python3 bench/pytorch_baseline.py --shapes "$shapes" --json "$OUT/pytorch.json" ${PT_ARGS:-}
  else
    echo "---- pytorch: skipped (bench-cuda.mjs --write-shapes failed, see the log)"; record pytorch 1 0 "no shapes"
  fi
fi

# ---- the VAE decode: CUDA vs CPU, then its speed against PyTorch's ----
if wanted vae; then
  if ((build_ok)); then
    # shellcheck disable=SC2086
    step vae 300 30 node scripts/gpu/check-vae.mjs --json "$OUT/check-vae.json" ${VAE_CHECK_ARGS:-}
  else
    echo "---- vae: skipped (no addon built)"; record vae 1 0 "no addon built"
  fi
fi
if wanted vae-bench; then
  # shellcheck disable=SC2086
  step pytorch-vae 300 14 python3 bench/pytorch_vae_baseline.py --json "$OUT/pytorch-vae.json" ${PT_VAE_ARGS:-}
  if ((build_ok)); then
    # shellcheck disable=SC2086
    step vae-bench 300 24 node scripts/gpu/bench-vae.mjs --gpu "$GPU_PROFILE" --json "$OUT/opendit-vae.json" --pytorch "$OUT/pytorch-vae.json" ${VAE_BENCH_ARGS:-}
  else
    echo "---- vae-bench: skipped (no addon built)"; record vae-bench 1 0 "no addon built"
  fi
fi

# ---- summary ----
{
  echo
  echo "gpu-check on ${GPU_NAME:-an unknown GPU}, $(date -u +%Y-%m-%dT%H:%MZ), ${SECONDS}s"
  printf '%-26s %-18s %7s  %s\n' step status time note
  printf '%s\n' "${TABLE[@]}"
  OPENDIT_JSON=$OUT/opendit-cuda.json PYTORCH_JSON=$OUT/pytorch.json python3 - <<'EOF'
import json, os
def load(p):
    try:
        with open(os.environ[p]) as f: return json.load(f)
    except Exception: return None
o, t = load("OPENDIT_JSON"), load("PYTORCH_JSON")
if not o and not t:
    raise SystemExit(0)
pt = {}
for r in (t or {}).get("models", []):
    if "msPerStep" in r: pt[(r["name"], r["mode"])] = r
print()
print(f"{'case':<20} {'opendit ms':>10} {'TFLOP/s':>8} {'dev GiB':>8} | {'eager ms':>9} {'compile ms':>10} {'pt GiB':>7} | {'PT/opendit':>10}")
names = [c["name"] for c in (o or {}).get("cases", [])] or sorted({k[0] for k in pt})
by = {c["name"]: c for c in (o or {}).get("cases", [])}
for n in names:
    c = by.get(n, {})
    e, k = pt.get((n, "eager")), pt.get((n, "compile"))
    ms = c.get("msPerStep")
    f = lambda x, d=2: "-" if x is None else f"{x:.{d}f}"
    gib = lambda b: "-" if not b else f"{b / 2**30:.1f}"
    best = min([x["msPerStep"] for x in (e, k) if x] or [None]) if (e or k) else None
    ratio = f"{best / ms:.2f}x" if ms and best else "-"
    print(f"{n:<20} {f(ms):>10} {f(c.get('tflops'), 1):>8} {gib(c.get('deviceBytes')):>8} | {f(e and e['msPerStep']):>9} "
          f"{f(k and k['msPerStep']):>10} {gib((k or e or {}).get('peakBytes')):>7} | {ratio:>10}")
print("(PT/opendit: the faster of PyTorch eager and compile, ms over opendit's ms; above 1: opendit is faster)")
EOF
  OPENDIT_VAE_JSON=$OUT/opendit-vae.json PYTORCH_VAE_JSON=$OUT/pytorch-vae.json python3 - <<'EOF'
import json, os
def load(p):
    try:
        with open(os.environ[p]) as f: return json.load(f)
    except Exception: return None
o, t = load("OPENDIT_VAE_JSON"), load("PYTORCH_VAE_JSON")
if not o and not t:
    raise SystemExit(0)
best = {}
for r in (t or {}).get("cases", []):
    if "msPerFrame" in r and (r["name"] not in best or r["msPerFrame"] < best[r["name"]]["msPerFrame"]): best[r["name"]] = r
gib = lambda b: "-" if not b else f"{b / 2**30:.2f}"
f = lambda x: "-" if x is None else f"{x:.2f}"
print()
print(f"{'vae case':<28} {'opendit ms/f':>12} {'rank GiB':>14} | {'PT ms/f':>8} {'PT mode':<14} {'PT GiB':>7} | {'PT/opendit':>10}")
rows = (o or {}).get("cases", []) or [{"name": n} for n in sorted(best)]
for c in rows:
    p = best.get(c["name"])
    ms = c.get("msPerFrame")
    ratio = f"{p['msPerFrame'] / ms:.2f}x" if p and ms else "-"
    mem = "/".join(gib(b) for b in c["rankPeakBytes"]) if c.get("rankPeakBytes") else "-"
    print(f"{c['name']:<28} {f(ms):>12} {mem:>14} | {f(p and p['msPerFrame']):>8} {(p or {}).get('mode', '-'):<14} {gib((p or {}).get('peakBytes')):>7} | {ratio:>10}")
print("(ms per frame; opendit's memory per rank from nvidia-smi, CUDA context included; PyTorch's max_memory_allocated)")
EOF
} | tee "$OUT/summary.txt"
exit "$FAILED"
