#!/usr/bin/env bash
# The six GAN families on Fashion-MNIST at one budget: 192k real images seen
# by the discriminator (3000 steps at batch 64, or 600 steps x n_critic 5),
# evaluated with the Fashion-MNIST classifier (FID/KID/PR/IS) during training.
# ResNet families run at base_width 32 (the configs say 128) to fit a 2-core
# CPU. Usage: bash experiments/2026-11-25-families/run.sh [RUNS_DIR] [CLASSIFIER]
set -euo pipefail
RUNS=${1:-runs/families}
CLASSIFIER=${2:-runs/clf_fmnist}  # cnnjax train --config configs/classifier.py:fashion_mnist --workdir runs/clf_fmnist
CNNJAX=${CNNJAX:-.venv/bin/cnnjax}
common=(--config.eval.extractor="classifier:$CLASSIFIER" --config.wandb.mode=disabled
        --config.train.progress_bar=off)
train() {  # family steps every [overrides...]
  local family=$1 steps=$2 every=$3; shift 3
  "$CNNJAX" train --config "configs/$family.py:fashion_mnist" --workdir "$RUNS/$family" \
    --config.train.num_steps="$steps" --config.eval.every_steps="$every" \
    --config.train.sample_every_steps="$every" --config.train.checkpoint_every_steps="$every" \
    "${common[@]}" "$@"
}
train mlp_gan 3000 1000
train dcgan   3000 1000
train lsgan   3000 1000
train sngan   600 200 --config.model.generator.base_width=32 --config.model.discriminator.base_width=32
train wgan_gp 600 200 --config.model.generator.base_width=32 --config.model.discriminator.base_width=32
train cgan    600 200 --config.model.generator.base_width=32 --config.model.discriminator.base_width=32
