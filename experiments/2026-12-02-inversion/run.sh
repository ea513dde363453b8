#!/usr/bin/env bash
# Inversion and edits of Fashion-MNIST test images with the quickstart DCGAN
# (issue 14). Run from the repository root after `bash launch/setup.sh`.
# Outputs go to runs/inversion (ignored); the tables and grids of the
# write-up are copied from there into this folder.
set -euo pipefail
GAN=runs/quickstart
ENC=runs/quickstart-encoder
OUT=runs/inversion
IMAGES=dataset:fashion_mnist:test:1000
cnnjax() { .venv/bin/cnnjax "$@"; }

# 1. The GAN (the README's quickstart) and its encoder.
[ -d $GAN/checkpoints ] || cnnjax train --config configs/dcgan.py:fashion_mnist \
    --workdir $GAN --config.train.num_steps=1500
[ -d $ENC/checkpoints ] || cnnjax train --config configs/encoder.py:gan=$GAN \
    --workdir $ENC --config.train.num_steps=2000
cnnjax eval --workdir $ENC | tee $OUT-encoder-eval.json

# 2. The three inversion methods on the first 1,000 test images.
mkdir -p $OUT
for method in encoder hybrid optimize; do
  cnnjax invert --workdir $GAN --encoder $ENC --images $IMAGES \
      --out $OUT/$method --method $method --overwrite | tee $OUT/$method.json
done

# 3. Edits of the hybrid inversions (grids show the first 16 images).
LATENTS=$OUT/hybrid/latents.npz
edit() { cnnjax edit --workdir $GAN --latents $LATENTS --overwrite "$@"; }
edit --op interpolate --rows 16 --out $OUT/interpolate.png | tee $OUT/interpolate.json
edit --op direction --target 5 --rows 1000 --out $OUT/direction.png | tee $OUT/direction.json
edit --op arithmetic --target 5 --rows 1000 --out $OUT/arithmetic.png | tee $OUT/arithmetic.json
edit --op sefa --component 0 --rows 16 --out $OUT/sefa0.png | tee $OUT/sefa0.json
edit --op sefa --component 1 --rows 16 --out $OUT/sefa1.png | tee $OUT/sefa1.json
edit --op pca --component 0 --rows 16 --out $OUT/pca0.png | tee $OUT/pca0.json
edit --op counterfactual --target 5 --rows 1000 --steps 100 --out $OUT/counterfactual.png | tee $OUT/counterfactual.json
# The same counterfactual with more steps and a weaker distance penalty
# (on the first 200 images).
edit --op counterfactual --target 5 --rows 200 --steps 200 --distance_weight 0.1 \
    --out $OUT/counterfactual-200steps.png | tee $OUT/counterfactual-200steps.json
edit --op inpaint --mask center:12 --rows 200 --out $OUT/inpaint.png | tee $OUT/inpaint.json

# 4. The conditional ResNet (cBN + projection discriminator), its encoder,
#    inversion with the test labels, label switching and counterfactuals.
CGAN=runs/cgan
CENC=runs/cgan-encoder
[ -d $CGAN/checkpoints ] || cnnjax train --config configs/cgan.py:fashion_mnist,width=32 \
    --workdir $CGAN --config.train.num_steps=1200
[ -d $CENC/checkpoints ] || cnnjax train --config configs/encoder.py:gan=$CGAN \
    --workdir $CENC --config.train.num_steps=800
cnnjax eval --workdir $CGAN | tee $OUT/cgan-eval.json
for method in encoder hybrid; do
  cnnjax invert --workdir $CGAN --encoder $CENC --images $IMAGES \
      --out $OUT/cgan-$method --method $method --overwrite | tee $OUT/cgan-$method.json
done
cedit() { cnnjax edit --workdir $CGAN --latents $OUT/cgan-hybrid/latents.npz --overwrite "$@"; }
cedit --op direction --rows 16 --out $OUT/cgan-switch.png | tee $OUT/cgan-switch.json
cedit --op direction --target 5 --rows 1000 --out $OUT/cgan-switch5.png | tee $OUT/cgan-switch5.json
cedit --op counterfactual --target 5 --rows 200 --steps 100 --out $OUT/cgan-counterfactual.png | tee $OUT/cgan-counterfactual.json

# 5. (2026-12-03) The counterfactual with the bridge to the nearest
#    generated image of the target class (`--bridge_points`, default 16),
#    against the same edit without it, on the first 200 test images
#    inverted with an encoder of 1,000 steps (the same run as above, cut
#    at step 1,000: constant learning rate, so it is that run's state).
ENC1K=runs/quickstart-encoder-1000
[ -d $ENC1K/checkpoints ] || cnnjax train --config configs/encoder.py:gan=$GAN \
    --workdir $ENC1K --config.train.num_steps=1000
cnnjax invert --workdir $GAN --encoder $ENC1K --images dataset:fashion_mnist:test:200 \
    --out $OUT/cf-hybrid --method hybrid --overwrite | tee $OUT/cf-hybrid.json
cfedit() { cnnjax edit --workdir $GAN --latents $OUT/cf-hybrid/latents.npz \
    --op counterfactual --rows 200 --steps 200 --distance_weight 0.1 --overwrite "$@"; }
cfedit --target 5 --out $OUT/cf-bridge-5.png | tee $OUT/cf-bridge-5.json
cfedit --target 5 --bridge_points 0 --out $OUT/cf-nobridge-5.png | tee $OUT/cf-nobridge-5.json
for t in 0 1 2 3 4 6 7 8 9; do
  cfedit --target $t --out $OUT/cf-bridge-$t.png | tee $OUT/cf-bridge-$t.json
done
# The settings compared in-process on 96 generated images (prior: latents):
# .venv/bin/python experiments/2026-12-02-inversion/counterfactual_sweep.py \
#     $GAN prior: $OUT/cf-prior.jsonl --images 96 --targets 5 --variants NAME,...
