# What the one-call GPU scripts share (scripts/gpu-check.sh, scripts/gpu-multi.sh), sourced from the repository
# root after the script has set:
#   ROOT    the repository root (the working directory)
#   OUT     where the log and the figures go (created)
#   LOG     the whole log, emptied
#   STEPS   the comma-separated steps wanted (`wanted NAME`)
#   BUDGET  seconds the whole script may take (`limit`)
# It provides the step table (TABLE, FAILED, `record`), running a step under a time limit (`step`), unpacking what
# scripts/pack-gpu.sh packed into .gpu/ and the build environment (`setup_gpu_machine`: GPU_NAME, GPU_PROFILE), and
# building the addon with the CUDA backend (`build_addon`: build_ok), so every script sets up and builds alike.
# shellcheck shell=bash

declare -a TABLE=()
FAILED=0

wanted() { [[ ",$STEPS," == *",$1,"* ]]; }

# Seconds a step may run: its own limit, or what is left of the budget less a reserve for the summary.
limit() {
  local left=$((BUDGET - SECONDS - 15))
  ((left < 10)) && left=10
  ((left < $1)) && echo "$left" || echo "$1"
}

# record NAME RC SECONDS [NOTE]
record() {
  local status=ok
  [[ $2 == skip ]] && status=skipped
  [[ $2 != 0 && $2 != skip ]] && { status="FAIL (exit $2)"; FAILED=1; }
  [[ $2 == 124 || $2 == 137 ]] && status="FAIL (time limit)"
  TABLE+=("$(printf '%-26s %-18s %6ss  %s' "$1" "$status" "$3" "${4:-}")")
}

# step NAME LIMIT TAIL_LINES COMMAND...: runs COMMAND under a time limit, its output into the log; prints its tail.
step() {
  local name=$1 max=$2 tail_lines=$3
  shift 3
  local t0=$SECONDS lim
  lim=$(limit "$max")
  echo "===== $name (limit ${lim}s): $*" >>"$LOG"
  timeout -k 5 "$lim" "$@" >"$OUT/.step.log" 2>&1
  local rc=$?
  cat "$OUT/.step.log" >>"$LOG"
  echo "===== $name: exit $rc after $((SECONDS - t0))s" >>"$LOG"
  echo "---- $name: exit $rc, $((SECONDS - t0))s"
  tail -n "$tail_lines" "$OUT/.step.log"
  rm -f "$OUT/.step.log"
  record "$name" "$rc" "$((SECONDS - t0))"
  return "$rc"
}

# Node into /opt/node, node_modules and dist/ into the repository root (from .gpu/), then the build environment;
# prints the GPU, Node and nvcc. Sets GPU_NAME (nvidia-smi's first GPU) and GPU_PROFILE (h200 or h100: the cost
# model's profile for the estimates).
setup_gpu_machine() {
  local t0=$SECONDS setup_rc=0
  (
    for f in .gpu/node.tar.xz .gpu/node_modules.tar.gz .gpu/dist.tar.gz; do
      [[ -f $f ]] || { echo "missing $f: run \`bash scripts/pack-gpu.sh\` here and carry .gpu"; exit 1; }
    done
    mkdir -p /opt/node && tar xJf .gpu/node.tar.xz -C /opt/node &&
      rm -rf node_modules dist && tar xzf .gpu/node_modules.tar.gz && tar xzf .gpu/dist.tar.gz
  ) >>"$LOG" 2>&1 || setup_rc=$?
  ((setup_rc == 0)) || { echo "setup failed:"; tail -n 5 "$LOG"; }
  record setup "$setup_rc" "$((SECONDS - t0))"
  export PATH=/opt/node/bin:/usr/local/cuda/bin:$PATH
  export CUDACXX=/usr/local/cuda/bin/nvcc
  export npm_config_nodedir=/opt/node   # cmake-js takes Node's headers from there (no download)
  export CUDAARCHS=${CUDAARCHS:-90}     # Hopper, where CMakeLists.txt does not say
  export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
  GPU_NAME=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
  echo "gpu: ${GPU_NAME:-none found}; node $(node --version 2>/dev/null || echo missing); $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo 'nvcc missing')" | tee -a "$LOG"
  case "$GPU_NAME" in *H200*) GPU_PROFILE=h200 ;; *) GPU_PROFILE=h100 ;; esac
}

# The addon with the CUDA backend (cmake-js, nvcc from /usr/local/cuda) when `build` is wanted; prints the configure
# summary (every backend line after "native backends:"), the build's errors when it fails, and the built addon's
# backends. Sets build_ok (1 when build/native/Release/opendit.node exists after it).
build_addon() {
  build_ok=1
  if wanted build; then
    step build 360 0 node node_modules/cmake-js/bin/cmake-js compile --directory native --out build/native || build_ok=0
    echo "configure summary:"
    awk '/native backends:/ { p = 1; print; next } p && /--   / { print; next } p { exit }' "$LOG" | sed 's/^.*-- //'
    if ((build_ok == 0)); then
      echo "build failed; its last lines:"
      awk '/^===== build \(/{p=1} p' "$LOG" | grep -v '^=====' | grep -iE "error|fatal|undefined" | head -20
      awk '/^===== build \(/{p=1} p' "$LOG" | tail -n 25
    fi
  fi
  [[ -f build/native/Release/opendit.node ]] || build_ok=0
  if ((build_ok)); then
    echo -n "addon backends: "
    node -e 'import("./dist/runtime/native/addon.js").then((m) => console.log(JSON.stringify(m.loadNative().info().backends)))' 2>&1 | tee -a "$LOG"
  fi
}
