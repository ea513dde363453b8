"""The seed's CNN classifier (three conv+pool blocks, a dense layer, softmax):
cnnjax's own feature network for FID, KID, precision/recall and IS.

Arguments (after the colon in --config=configs/classifier.py:ARG):
  fashion_mnist  Fashion-MNIST train -> test (the default)
  digits         scikit-learn's digits: train (80%) -> test (20%)
  tiny           a seconds-long run on digits, for tests
"""

from cnnjax import config as base
from cnnjax.tasks.classifier import config as classifier


def get_config(arg: str | None = None):
  config = classifier.default_config()
  dataset, _ = base.parse_arg(arg, base.DATASETS)
  if dataset == "digits":
    config.train.num_steps = 1500  # 1438 training images: ~130 epochs
    config.train.eval_every_steps = 250
    config.train.checkpoint_every_steps = 500
  return classifier.apply_arg(config, arg)
