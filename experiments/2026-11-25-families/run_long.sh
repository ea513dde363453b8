#!/usr/bin/env bash
# Longer runs of two ResNet families (base width 32): are they undertrained
# or broken? SNGAN for 3000 G steps (the DCGAN's number of G updates: 960k
# real images with n_critic 5) and the conditional cgan for 2000.
# Usage: bash experiments/2026-11-25-families/run_long.sh [RUNS_DIR] [CLASSIFIER]
set -euo pipefail
RUNS=${1:-runs/families_long}
CLASSIFIER=${2:-runs/clf_fmnist}
CNNJAX=${CNNJAX:-.venv/bin/cnnjax}
common=(--config.eval.extractor="classifier:$CLASSIFIER" --config.wandb.mode=disabled
        --config.train.progress_bar=off --config.model.generator.base_width=32 --config.model.discriminator.base_width=32
        --config.eval.every_steps=1000 --config.train.sample_every_steps=1000
        --config.train.checkpoint_every_steps=500)
"$CNNJAX" train --config configs/sngan.py:fashion_mnist --workdir "$RUNS/sngan" \
  --config.train.num_steps=3000 "${common[@]}"
"$CNNJAX" train --config configs/cgan.py:fashion_mnist --workdir "$RUNS/cgan" \
  --config.train.num_steps=2000 "${common[@]}"
