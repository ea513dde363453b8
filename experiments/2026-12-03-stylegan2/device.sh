#!/usr/bin/env bash
# StyleGAN2's train step on a lent GPU (issue 16): `cnnjax bench` of the
# 32 px CPU config, the 32 px config at CIFAR-10's width, and the paper's
# 128 and 256 px settings, with DCGAN for scale, then a table of s/kimg
# beside stylegan2-ada-pytorch's published V100 times (README, "Expected
# training time": 1 GPU, --cfg=auto: 128 px 12.8-13.7 s/kimg, 256 px
# 21.6-24.2 s/kimg; those include ADA and the FID evaluations, which
# bench leaves out, and a V100 is not an H200: a scale, not a race).
#
#   bash experiments/2026-11-26-cpu-speed/device.sh wheels   # here, once
#   then, through the device tool:
#     run(command="bash experiments/2026-12-03-stylegan2/device.sh",
#         carry=[".wheels"], timeout_s=540)
#   bench.jsonl and table.md come back in $OUT.
# Checked here on the CPU (the script, not the numbers):
#   OUT=/tmp/o PYTHON=.venv/bin/python STEPS=2 TIMEOUT=60 bash <this file>
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?run this through the device tool, which sets OUT}"
PYTHON=${PYTHON:-python3} STEPS=${STEPS:-20} TIMEOUT=${TIMEOUT:-150}
if [ -d .wheels ]; then
  $PYTHON -m pip install --quiet --no-index --no-deps .wheels/*.whl
fi
{ nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"; } | tee "$OUT/device.txt"
export PYTHONPATH="$PWD" CNNJAX_COMPILATION_CACHE=off
cifar="--config.model.generator.channel_base=16384
       --config.model.generator.channel_max=512
       --config.model.discriminator.channel_base=16384
       --config.model.discriminator.channel_max=512"
bench() {  # name, then cnnjax bench flags; one JSON line to bench.jsonl
  local name=$1 line; shift
  line=$(timeout "$TIMEOUT" $PYTHON -m cnnjax.main bench --steps "$STEPS" \
         "$@" 2>/dev/null | tail -1) || true
  case "$line" in
    "{"*) echo "${line%\}}, \"case\": \"$name\"}" ;;
    *) echo "{\"case\": \"$name\", \"error\": \"failed or timed out\"}" ;;
  esac | tee -a "$OUT/bench.jsonl"
}
bench dcgan_32 --config configs/dcgan.py:fashion_mnist
bench stylegan2_32_cpu_width --config configs/stylegan2.py:fashion_mnist
# shellcheck disable=SC2086
bench stylegan2_32_cifar_width --config configs/stylegan2.py:fashion_mnist $cifar
bench stylegan2_128 --config configs/stylegan2.py:rgb128
bench stylegan2_256 --config configs/stylegan2.py:rgb256
$PYTHON - "$OUT" <<'PY' | tee "$OUT/table.md"
import json, sys
published = {"stylegan2_128": "12.8-13.7", "stylegan2_256": "21.6-24.2"}
print("| case | batch | step ms | images/s | s/kimg | V100 s/kimg "
      "(stylegan2-ada-pytorch) | compile s |")
print("|---|---|---|---|---|---|---|")
for line in open(sys.argv[1] + "/bench.jsonl"):
  r = json.loads(line)
  if "error" in r:
    print(f"| {r['case']} | {r['error']} |")
    continue
  print(f"| {r['case']} | {r['batch_size']} | {r['step_ms']:.1f} | "
        f"{r['images_per_sec']:.0f} | {1000 / r['images_per_sec']:.2f} | "
        f"{published.get(r['case'], '-')} | {r['compile_s']:.1f} |")
PY
