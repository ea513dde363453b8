#!/usr/bin/env bash
# AdaIN (Huang & Belongie 2017) on scikit-image's photographs, CPU-sized,
# with random VGG-19 weights (no converted VGG file on this machine): the
# exact commands behind adain.md. Run from anywhere; writes runs/ (data,
# the run) and experiments/2026-12-03-style-transfer/adain/ (images, JSON).
#
#   bash experiments/2026-12-03-style-transfer/run_adain.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
EXP=experiments/2026-12-03-style-transfer
OUT=$EXP/adain
RUN=runs/adain-skimage
CNNJAX=${CNNJAX:-.venv/bin/cnnjax}
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT/images"

# 1. Data: scikit-image's 12 photographs and 3 textures, cut into 128 px
#    tiles for training (272 photo tiles, 48 texture tiles), and whole for
#    stylising.
$PYTHON -m cnnjax.data.skimage_demo runs/adain-demo --tile 128
$PYTHON -m cnnjax.data.skimage_demo runs/adain-demo-full

# 2. Train: content = photo tiles, style = photo and texture tiles, both
#    random crops at 64 px; decoder width 32 (the paper's 64 halved), Adam
#    1e-3, batch 8, 500 steps (what the session's CPU time allowed); the
#    paper's loss with style weight 1.
$CNNJAX train \
  --config configs/adain.py:content=runs/adain-demo/photos,style=runs/adain-demo,res=64,width=32,steps=500 \
  --config.optim.lr=1e-3 --config.loss.style_weight=1 \
  --config.train.sample_every_steps=250 \
  --config.train.checkpoint_every_steps=250 --config.eval.every_steps=250 \
  --config.wandb.mode=disabled --config.train.progress_bar=off \
  --workdir $RUN
cp $RUN/samples/step_500.png "$OUT/train_grid_step_500.png"

# 3. Held-out losses (the folders' hash-picked 'test' tiles, fixed pairs)
#    and images/s at 64 px.
$CNNJAX eval --workdir $RUN | tee "$OUT/eval.json"
# The same held-out losses of the untrained decoder (step 0, the run's seed).
$PYTHON -c "
import json; from cnnjax import runs
run = runs.load('$RUN'); start = run.task.create_state(run.mesh)
print(json.dumps({'step': 0, **run.task.evaluate(start, run.mesh)}))" \
  | tee "$OUT/eval_step0.json"

# 4. Each photograph with each texture and each other photograph as the
#    style, at 256 px (the longer side).
photo() { echo runs/adain-demo-full/photos/$1.png; }
texture() { echo runs/adain-demo-full/textures/$1.png; }
: > "$OUT/stylize.jsonl"
for content in astronaut chelsea coffee rocket; do
  for style in brick grass gravel astronaut chelsea coffee rocket; do
    [ "$content" = "$style" ] && continue
    case $style in brick|grass|gravel) file=$(texture $style);; *) file=$(photo $style);; esac
    $CNNJAX stylize --method adain --workdir $RUN --content "$(photo $content)" \
      --style "$file" --size 256 --out "$OUT/images/$content-$style.png" \
      --overwrite >> "$OUT/stylize.jsonl"
  done
done

# 5. The content-style trade-off: chelsea in coffee's style, alpha 0 to 1.
for alpha in 0 0.25 0.5 0.75 1; do
  $CNNJAX stylize --method adain --workdir $RUN --content "$(photo chelsea)" \
    --style "$(photo coffee)" --alpha $alpha --size 256 \
    --out "$OUT/images/alpha-$alpha.png" --overwrite >> "$OUT/stylize.jsonl"
done

# 6. Interpolating two styles: astronaut between gravel and coffee.
for weights in 1,0 0.75,0.25 0.5,0.5 0.25,0.75 0,1; do
  $CNNJAX stylize --method adain --workdir $RUN --content "$(photo astronaut)" \
    --style "$(texture gravel),$(photo coffee)" --style_weights $weights \
    --size 256 --out "$OUT/images/mix-$weights.png" --overwrite \
    >> "$OUT/stylize.jsonl"
done

# 7. Colour preservation: rocket in chelsea's style, with and without.
$CNNJAX stylize --method adain --workdir $RUN --content "$(photo rocket)" \
  --style "$(photo chelsea)" --preserve_color --size 256 \
  --out "$OUT/images/rocket-chelsea-preserve.png" --overwrite \
  >> "$OUT/stylize.jsonl"

# 8. Speed: images/s of one stylisation (warm, after compilation) at 256
#    and 512 px, three times each; and the training step.
: > "$OUT/speed.jsonl"
for size in 256 512; do
  for repeat in 1 2 3; do
    $CNNJAX stylize --method adain --workdir $RUN --content "$(photo astronaut)" \
      --style "$(texture brick)" --size $size \
      --out "$OUT/images/speed-$size.png" --overwrite >> "$OUT/speed.jsonl"
  done
done
$CNNJAX bench --steps 5 \
  --config configs/adain.py:content=runs/adain-demo/photos,style=runs/adain-demo,res=64,width=32 \
  >> "$OUT/speed.jsonl"
$CNNJAX bench --steps 3 \
  --config configs/adain.py:content=runs/adain-demo/photos,style=runs/adain-demo,res=256 \
  >> "$OUT/speed.jsonl"

# 9. How much of random VGG-19's normalised spatial signal is common to all
#    images (adain.md, "Why the layouts look alike").
$PYTHON $EXP/adain_random_vgg.py | tee "$OUT/random_vgg.jsonl"

# 10. The figures of adain.md.
$PYTHON $EXP/adain_figures.py "$OUT"
