#!/usr/bin/env bash
# Packs what a run on the GPU machine needs and git ignores, into .gpu/ (git-ignored through .git/info/exclude),
# for scripts/gpu-check.sh to unpack there (../shared/gpu/README.md: that machine has no Node and no registry):
#   .gpu/node.tar.xz          Node binary and headers (../shared/gpu/pack-node.sh, made once)
#   .gpu/dist.tar.gz          the compiled TypeScript (dist/, built here from the current sources)
#   .gpu/node_modules.tar.gz  a production node_modules (`npm ci --omit=dev --ignore-scripts`: cmake-js and
#                             node-addon-api, which build the addon there, and the compiler's dependencies)
# Run it here before every device call that carries `.gpu`:
#   bash scripts/pack-gpu.sh
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
# .gitignore lists /.gpu/; pack-node.sh also writes it into .git/info/exclude, whose folder may not exist yet.
mkdir -p "$(git rev-parse --git-path info)"
mkdir -p .gpu

if [[ ! -f .gpu/node.tar.xz ]]; then
  bash /work/shared/gpu/pack-node.sh
fi

echo "building dist/ (tsc -p tsconfig.build.json)"
npx tsc -p tsconfig.build.json
tar czf .gpu/dist.tar.gz dist

# Reinstalled only when package.json or package-lock.json changed since the last pack.
lock=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [[ -f .gpu/node_modules.tar.gz && "$(cat .gpu/node_modules.sha256 2>/dev/null)" == "$lock" ]]; then
  echo ".gpu/node_modules.tar.gz is current (package.json and package-lock.json unchanged)"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp package.json package-lock.json "$tmp/"
  echo "installing production node_modules (npm ci --omit=dev --ignore-scripts)"
  (cd "$tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  for dep in cmake-js node-addon-api; do
    [[ -d "$tmp/node_modules/$dep" ]] || { echo "pack-gpu: $dep is missing from the production node_modules" >&2; exit 1; }
  done
  tar czf .gpu/node_modules.tar.gz -C "$tmp" node_modules
  echo "$lock" >.gpu/node_modules.sha256
fi

ls -la .gpu
du -ch .gpu/node.tar.xz .gpu/dist.tar.gz .gpu/node_modules.tar.gz | tail -1 | sed 's/total/.gpu total/'
