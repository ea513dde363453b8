"""The Gatys figure of README.md from run.sh's images: the inputs, then
each option at 128 px, one row (cells as in adain_figures.py).

  python experiments/2026-12-03-style-transfer/gatys_figure.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adain_figures import table  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = "runs/style-inputs"
RESULTS = ("default128", "preserve_color", "mask", "two_styles", "scales2",
           "lbfgs")


def main() -> None:
  row = [os.path.join(INPUTS, "photos", "astronaut.png"),
         os.path.join(INPUTS, "photos", "immunohistochemistry.png"),
         os.path.join(INPUTS, "textures", "brick.png")]
  row += [os.path.join(HERE, "gatys", f"{name}.png") for name in RESULTS]
  table([row], os.path.join(HERE, "gatys", "figure.png"))


if __name__ == "__main__":
  main()
