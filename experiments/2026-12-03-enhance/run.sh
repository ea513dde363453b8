#!/usr/bin/env bash
# Automatic colour and contrast (issue 15 item 5): the enhancer trained on
# crops of the photographs bundled with scikit-image and scikit-learn,
# evaluated on four held-out scikit-image photographs against scikit-image's
# baselines. Run from the repository root after `bash launch/setup.sh`
# (scikit-image comes with the dev extras). Outputs go to runs/ (ignored);
# the picture is written into this folder. About 45 minutes on 2 shared
# CPU cores, most of it the two training runs.
set -euo pipefail
EXP=experiments/2026-12-03-enhance
PHOTOS=runs/enhance-photos
RUN=runs/enhance-jitter
STEP=1000  # chosen on the validation photos (step 2)
cnnjax() { .venv/bin/cnnjax "$@"; }
train() {  # FOLDER TEST_FOLDER WORKDIR EVAL_EVERY [flags]
  cnnjax train --config "configs/enhance.py:folder=$1,test=$2,steps=1500" \
      --workdir "$3" --config.eval.every_steps="$4" \
      --config.train.sample_every_steps=500 "${@:5}"
}

# 1. Photographs, split by photo: test/ = astronaut, chelsea, coffee,
#    rocket; val/ = china, flower (whole); train/ = 896 random 128 px crops
#    of the other photos; train-val/ = train/ without china's and flower's.
.venv/bin/python $EXP/export_photos.py $PHOTOS

# 2. The length of training, on validation photos only: eval every 250
#    steps of a run on train-val/ (best: step 1000).
time train $PHOTOS/train-val $PHOTOS/val runs/enhance-val 250

# 3. The model: 1,500 steps of 32 crops at 64 px on train/, each crop with
#    its own random degradation; held-out evaluation every 500 steps (the
#    curve in the README). Its checkpoint of step $STEP is the result.
time train $PHOTOS/train $PHOTOS/test $RUN 500

# 4. The table: 32 held-out images (each photo x 8 seeded degradations) at
#    their own size.
cnnjax eval --workdir $RUN --step $STEP | tee $RUN-eval-$STEP.json

# 5. The picture (the first 8 of those degradations, centre squares at
#    192 px) and the first 4 degraded photos at their own size.
.venv/bin/python $EXP/figure.py $RUN $STEP $EXP/enhanced.jpg \
    runs/enhance-degraded | tee $RUN-figure.jsonl

# 6. `cnnjax enhance` on the degraded photos, and on a 24-megapixel one
#    (the degraded rocket upscaled to 6000 x 4000), with its peak memory.
cnnjax enhance --workdir $RUN --step $STEP --in runs/enhance-degraded \
    --out runs/enhance-cli --overwrite | tee $RUN-cli.json
.venv/bin/python -c "
from PIL import Image
Image.open('runs/enhance-degraded/degraded_3.png').resize(
    (6000, 4000), Image.BICUBIC).save('runs/enhance-large.png')"
/usr/bin/time -v .venv/bin/cnnjax enhance --workdir $RUN --step $STEP \
    --in runs/enhance-large.png --out runs/enhance-large-out.jpg \
    --overwrite 2> $RUN-large-time.txt | tee $RUN-large.json
grep "Maximum resident" $RUN-large-time.txt

# Ablation (README): the same step 3 with
#   --config.model.enhancer.histogram_bins=0 --config.degrade.target_jitter=0
#   (workdir runs/enhance), and with --config.degrade.target_jitter=0
#   (runs/enhance-hist).
