#!/usr/bin/env bash
# Builds the addon and proves multi-GPU runs correct, then measures their scaling, on the 4-GPU machine in one call
# (../shared/gpu/README.md), from the repository root, after `bash scripts/pack-gpu.sh` here packed .gpu/ (Node,
# dist/, a production node_modules). Steps, each run whatever the earlier ones gave (an exit status recorded per
# step):
#   setup          Node into /opt/node, node_modules and dist/ into the repository root (scripts/gpu/common.sh)
#   build          the addon with the CUDA backend and NCCL (cmake-js, nvcc from /usr/local/cuda); the configure
#                  summary and the built addon's backends
#   preflight      one 2-GPU run through the launcher (pipelines/quickstart.yaml, `--backend cuda --world 2
#                  --layout "dsp 2"`); when it fails, its error is printed and the two steps below are skipped
#                  (every one of their runs would fail the same way)
#   check-multi    node scripts/gpu/check-multi.mjs: every layout on 2 and 4 GPUs against one GPU, final latents
#                  within bf16 / fp32 bounds; PipeFusion with warm-up on every step reported on its own
#   bench-scaling  node scripts/gpu/bench-scaling.mjs: STDiT-XL/2 80x512x512 step time on 1, 2 and 4 GPUs per
#                  layout, speedup, the plan's estimates beside it, communication time from the CUDA profile; PAB
#                  over whole sampler runs (Open-Sora 1.0 and 1.2 windows); the cost model against the measurements.
#                  Its --budget is what the whole script has left, so it skips (and says so) what no longer fits
#   vae-multi      (not a default step) the VAE decode split by rows over 2 and 4 GPUs: node
#                  scripts/gpu/check-vae.mjs --only patch (rank 0's video against one GPU's) and
#                  scripts/gpu/bench-vae.mjs (16 frames of 512x512 on 1, 2 and 4 GPUs: ms per frame, memory per
#                  rank); $OUT/check-vae-multi.json, $OUT/bench-vae-multi.json. GPU_MULTI_STEPS=build,vae-multi
# The whole log is $OUT/gpu-multi.log; the figures $OUT/check-multi.json and $OUT/bench-scaling.json; the last lines
# printed (and $OUT/summary.txt) are the step table and the results in short. Exit status 1 when any step failed.
#
# NCCL_NVLS_ENABLE=0 is exported for every process (NVLink multicast must stay off on these machines: it can take
# the host's shared GPUs out of service), NCCL_DEBUG=WARN unless set (NCCL's warnings land in the rank logs).
#
# Knobs (environment): GPU_MULTI_STEPS (default "build,preflight,check-multi,bench-scaling"; setup always runs),
# CHECK_MULTI_ARGS, SCALING_ARGS (extra arguments of the two scripts, e.g. SCALING_ARGS="--sections scaling,pab"
# or CHECK_MULTI_ARGS="--only dsp"), GPU_MULTI_BUDGET (seconds the whole script may take, default 570: each step's
# time limit is cut to what is left, so the table is always printed).
#
# Device call (from the lead's machine, after `bash scripts/pack-gpu.sh`):
#   run(command: "bash scripts/gpu-multi.sh", carry: [".gpu"], kind: "nvidia-h200-x4", timeout_s: 600)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/outputs/gpu-multi}
mkdir -p "$OUT"
LOG=$OUT/gpu-multi.log
: >"$LOG"
rm -f "$OUT/check-multi.json" "$OUT/bench-scaling.json" "$OUT/summary.txt"
STEPS=${GPU_MULTI_STEPS:-build,preflight,check-multi,bench-scaling}
BUDGET=${GPU_MULTI_BUDGET:-570}
export NCCL_NVLS_ENABLE=0
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}

# wanted, limit, record, step; setup_gpu_machine (GPU_NAME, GPU_PROFILE); build_addon (build_ok)
# shellcheck source=scripts/gpu/common.sh
source "$ROOT/scripts/gpu/common.sh"

# ---- setup ----
setup_gpu_machine
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
echo "gpus: ${GPUS:-0} ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | sort | uniq -c | sed 's/^ *//' | paste -sd, -))" | tee -a "$LOG"
gpu_args=()
((${GPUS:-0} > 0)) && gpu_args=(--gpus "$GPUS")

# ---- build ----
build_addon

# ---- preflight: one 2-GPU run through the launcher ----
runs_ok=$build_ok
if ((build_ok)) && wanted preflight; then
  preflight_dir=$(mktemp -d /tmp/gpu-multi-preflight.XXXXXX)
  mkdir -p "$preflight_dir/tmp"   # the launcher's staging directory (the rank logs of a failed run) goes there
  if ! step preflight 120 6 env TMPDIR="$preflight_dir/tmp" node dist/cli/main.js run pipelines/quickstart.yaml \
    --backend cuda --world 2 --layout "dsp 2" --steps 3 --out "$preflight_dir/out"; then
    runs_ok=0
    echo "preflight failed: check-multi and bench-scaling are skipped; the rank logs:"
    for f in "$preflight_dir"/out/logs/rank-*.log "$preflight_dir"/tmp/opendit-run-*/logs/rank-*.log; do
      [[ -f $f ]] && { echo "  $f:"; tail -n 8 "$f" | sed 's/^/    /'; }
    done
  fi
  rm -rf "$preflight_dir"
fi

# ---- correctness: N GPUs against one ----
if wanted check-multi; then
  if ((runs_ok)); then
    lim=$(limit 240)
    # shellcheck disable=SC2086
    step check-multi 240 45 node scripts/gpu/check-multi.mjs "${gpu_args[@]}" --budget $((lim > 20 ? lim - 10 : 10)) --json "$OUT/check-multi.json" ${CHECK_MULTI_ARGS:-}
  else
    echo "---- check-multi: skipped (no addon built, or the preflight run failed)"; record check-multi 1 0 "no addon / preflight failed"
  fi
fi

# ---- scaling, PAB, communication, the cost model ----
if wanted bench-scaling; then
  if ((runs_ok)); then
    lim=$(limit 600)
    # shellcheck disable=SC2086
    step bench-scaling 600 50 node scripts/gpu/bench-scaling.mjs "${gpu_args[@]}" --gpu "$GPU_PROFILE" --budget $((lim > 20 ? lim - 10 : 10)) --json "$OUT/bench-scaling.json" ${SCALING_ARGS:-}
  else
    echo "---- bench-scaling: skipped (no addon built, or the preflight run failed)"; record bench-scaling 1 0 "no addon / preflight failed"
  fi
fi

# ---- the VAE decode split by rows over the GPUs ----
if wanted vae-multi; then
  rm -f "$OUT/check-vae-multi.json" "$OUT/bench-vae-multi.json"
  if ((build_ok)); then
    step vae-multi-check 240 16 node scripts/gpu/check-vae.mjs --only patch "${gpu_args[@]}" --json "$OUT/check-vae-multi.json"
    step vae-multi-bench 300 12 node scripts/gpu/bench-vae.mjs --gpu "$GPU_PROFILE" --frames 16 --fpp 1 --worlds 2,4 "${gpu_args[@]}" \
      --json "$OUT/bench-vae-multi.json"
  else
    echo "---- vae-multi: skipped (no addon built)"; record vae-multi 1 0 "no addon built"
  fi
fi

# ---- summary ----
{
  echo
  echo "gpu-multi on ${GPUS:-0} x ${GPU_NAME:-an unknown GPU}, $(date -u +%Y-%m-%dT%H:%MZ), ${SECONDS}s"
  printf '%-26s %-18s %7s  %s\n' step status time note
  printf '%s\n' "${TABLE[@]}"
  CHECK_JSON=$OUT/check-multi.json SCALING_JSON=$OUT/bench-scaling.json python3 - <<'EOF'
import json, os
def load(p):
    try:
        with open(os.environ[p]) as f: return json.load(f)
    except Exception: return None
c, s = load("CHECK_JSON"), load("SCALING_JSON")
if c:
    cases = c.get("cases", [])
    ok = sum(1 for r in cases if r.get("status") == "ok")
    print(f"\ncheck-multi: {ok} of {len(cases)} cases within bounds (bf16 {c['bounds']['bf16']}, fp32 {c['bounds']['fp32']}), {len(c.get('skipped', []))} skipped")
    worst = {}
    for r in cases:
        e = r.get("maxRelError")
        if isinstance(e, (int, float)): worst[r["dtype"]] = max(worst.get(r["dtype"], 0), e)
    if worst: print("  largest max relative error: " + ", ".join(f"{d} {e:.2e}" for d, e in sorted(worst.items())))
    for f in c.get("failures", [])[:12]: print(f"  FAIL {f.splitlines()[0][:150]}")
if s:
    f = lambda x, d=1: "-" if not isinstance(x, (int, float)) else f"{x:.{d}f}"
    print(f"\nbench-scaling ({s.get('model')}, {s.get('backend')}, estimates for {s.get('estimatesFor')}):")
    print(f"  {'case':<26} {'gpus':>4} {'ms/step':>9} {'speedup':>7} {'est ms':>8} {'meas/est':>8} {'comm ms':>11}")
    for r in s.get("scaling", []):
        p = r.get("profile") or {}
        comm = f"{p['commMsPerStepMin']:.1f}-{p['commMsPerStepMax']:.1f}" if "commMsPerStepMin" in p else "-"
        est = (r.get("predicted") or {}).get("stepSeconds")
        note = " FAILED" if r.get("error") else " skipped" if r.get("skipped") else " (estimate off >25%)" if r.get("costOff") else ""
        print(f"  {r['name']:<26} {r['gpus']:>4} {f(r.get('msPerStep')):>9} {f(r.get('speedup'), 2):>7} {f(est * 1000 if isinstance(est, (int, float)) else None):>8} {f(r.get('measuredOverPredicted'), 2):>8} {comm:>11}{note}")
    for p in s.get("pab", []):
        off, on = p.get("off") or {}, p.get("on") or {}
        print(f"  PAB {p.get('label')}, {p.get('layout')}, {p.get('steps')} steps: {f(off.get('ditSeconds'), 2)} s -> {f(on.get('ditSeconds'), 2)} s, speedup {f(p.get('speedup'), 2)}x (estimated {f(p.get('predictedSpeedup'), 2)}x)")
    for x in s.get("skipped", [])[:10]: print(f"  skipped: {x}")
    for x in s.get("failures", [])[:10]: print(f"  FAIL {x.splitlines()[0][:150]}")
EOF
} | tee "$OUT/summary.txt"
exit "$FAILED"
