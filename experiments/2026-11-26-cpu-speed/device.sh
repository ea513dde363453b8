#!/usr/bin/env bash
# The GPU half of issue 5: the same side-by-side table on a lent GPU, in one
# device call. The device machine has JAX, Flax, Optax, Orbax and PyTorch
# but no package index, so cnnjax's other dependencies travel as wheels.
#
#   bash experiments/2026-11-26-cpu-speed/device.sh wheels   # here, once:
#       # fills .wheels/ (git-ignored, 11 MB) with CPython 3.12 wheels
#   then, through the device tool:
#       run(command="bash experiments/2026-11-26-cpu-speed/device.sh run",
#           carry=[".wheels"], timeout_s=540)
#       # results.jsonl, table.md and transpose_conv.txt come back in $OUT
#
# Checked here (not on a GPU): `wheels`, then the offline install into a
# Python 3.12 venv holding the image's JAX 0.11.2, and `cnnjax bench` there.
set -euo pipefail
cd "$(dirname "$0")/../.."

# What cnnjax imports that the device image lacks (its versions in .venv).
WHEELS=(array_record==0.8.6 dm-tree==0.1.10 docstring_parser==0.18.0
        googleapis-common-protos==1.76.0 grain==0.2.18 immutabledict==4.3.1
        ml_collections==1.1.0 portpicker==1.6.0 simple-parsing==0.1.9
        tensorflow-datasets==4.9.10 tensorflow-metadata==1.21.0
        termcolor==3.3.0 toml==0.10.2)

case "${1:-}" in
  wheels)
    mkdir -p .wheels
    for wheel in "${WHEELS[@]}"; do
      python3 -m pip download --quiet --no-deps --dest .wheels \
          --only-binary=:all: --python-version 3.12 --implementation cp \
          --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
          "$wheel"
    done
    # promise (for tensorflow-datasets) is published as a source archive only.
    python3 -m pip wheel --quiet --no-deps --wheel-dir .wheels promise==2.3
    ls .wheels
    ;;
  run)
    : "${OUT:?run this through the device tool, which sets OUT}"
    python3 -m pip install --quiet --no-index --no-deps .wheels/*.whl
    nvidia-smi -L | tee "$OUT/device.txt"
    python3 -c "import jax, torch; print('jax', jax.__version__, \
jax.devices(), 'torch', torch.__version__)" | tee -a "$OUT/device.txt"
    export PYTHONPATH="$PWD" CNNJAX_COMPILATION_CACHE=off
    python3 experiments/2026-11-26-cpu-speed/compare.py \
        --torch_python python3 --torch_device cuda --rounds 1 \
        --results "$OUT/results.jsonl" \
        --cases dcgan,dcgan_bf16,dcgan_b1024,dcgan_b1024_bf16,sngan_w128,wgan_gp_w32,cgan_w32 \
        | tee "$OUT/table.md"
    # stride2's transposed convolution on 2x2 blocks was chosen from CPU
    # timings; this says whether the GPU wants XLA's (cuDNN's) form instead.
    timeout 120 python3 experiments/2026-11-25-speed/transpose_conv.py \
        | tee "$OUT/transpose_conv.txt"
    ;;
  *)
    echo "usage: device.sh wheels|run" >&2
    exit 2
    ;;
esac
