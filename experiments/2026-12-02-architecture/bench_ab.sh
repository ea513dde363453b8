#!/usr/bin/env bash
# The DCGAN train step (cnnjax bench) before the restructure (a8c0012, a git
# worktree made by same_as_before.py) and after it, alternating, 3 rounds,
# with the same venv and no compilation cache.
#   bash experiments/2026-12-02-architecture/bench_ab.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$(pwd)
before=/tmp/cnnjax-a8c0012
[ -d "$before" ] || git worktree add --detach "$before" a8c0012
for round in 1 2 3; do
  for side in before after; do
    root=$here; [ $side = before ] && root=$before
    (cd "$root" && PYTHONPATH="$root" CNNJAX_COMPILATION_CACHE=off \
      "$here/.venv/bin/python" -m cnnjax.main bench \
      --config=configs/dcgan.py:fashion_mnist --steps=30 2>/dev/null) |
      tail -1 | python3 -c "import json, sys; d = json.load(sys.stdin); \
print('$side round $round: %.1f img/s, step %.1f ms' % (d['images_per_sec'], d['step_ms']))"
  done
done
