#!/usr/bin/env bash
# Retrains the reference classifiers that ship in cnnjax/nets/weights and
# exports them there (updating classifiers.json), on one CPU device as they
# were made. Run from the project root after `bash launch/setup.sh`.
# About 15-25 min (Fashion-MNIST) and 5 min (digits) on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
unset XLA_FLAGS  # one device: the shipped files were trained on one
for dataset in fashion_mnist digits; do
  .venv/bin/cnnjax train --config "configs/classifier.py:$dataset" \
      --workdir "runs/clf_$dataset" --config.wandb.mode=disabled
  .venv/bin/python -m cnnjax.nets.export_classifier "runs/clf_$dataset"
done
git diff --stat cnnjax/nets/weights  # empty when the bytes reproduced
