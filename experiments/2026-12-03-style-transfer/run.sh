#!/usr/bin/env bash
# The Gatys images and numbers of README.md (after `bash launch/setup.sh`).
# No VGG-19 weights file here: every run uses vgg19:random:0 (cnnjax says
# so on stderr and in the JSON line).
#
#   bash experiments/2026-12-03-style-transfer/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=experiments/2026-12-03-style-transfer
IN=runs/style-inputs
mkdir -p "$HERE/rows" "$HERE/gatys"
.venv/bin/python -m cnnjax.data.skimage_demo "$IN"
# A mask of the astronaut's size (512x512): the style on the right half.
.venv/bin/python -c "
import numpy as np; from PIL import Image
m = np.zeros((512, 512), np.uint8); m[:, 256:] = 255
Image.fromarray(m).save('$IN/right_half.png')"

CONTENT=$IN/photos/astronaut.png
STYLE=$IN/photos/immunohistochemistry.png
run() {  # run NAME SIZE FLAGS...: writes gatys/NAME.png and rows/NAME.json
  name=$1; size=$2; shift 2
  .venv/bin/cnnjax stylize --content "$CONTENT" --out "$HERE/gatys/$name.png" \
      --size "$size" --steps 100 --overwrite "$@" | tee "$HERE/rows/$name.json"
}
run default 256 --style "$STYLE"
# The options at 128 px: a 256 px run took 17 minutes on the shared
# 2-core machine.
run default128 128 --style "$STYLE"
run preserve_color 128 --style "$STYLE" --preserve_color
run mask 128 --style "$STYLE" --mask "$IN/right_half.png"
run two_styles 128 --style "$STYLE,$IN/textures/brick.png" \
    --style_weights 0.5,0.5
run scales2 128 --style "$STYLE" --scales 2
run lbfgs 128 --style "$STYLE" --optimizer lbfgs --steps 25
.venv/bin/python "$HERE/gatys_figure.py"  # gatys/figure.png

# Against PyTorch (a separate venv with torch, torchvision and cnnjax; see
# README.md): losses, Adam steps, and the speed table.
/tmp/torchref/bin/python "$HERE/reference.py" check --steps 50 \
    | tee "$HERE/rows/check.json"
/tmp/torchref/bin/python "$HERE/reference.py" speed --steps 10 \
    | tee "$HERE/rows/speed.jsonl"
