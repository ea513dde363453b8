"""An example sweep: DCGAN on Fashion-MNIST, two generator learning rates x
two seeds, 4 runs.

  cnnjax sweep configs/sweeps/example.py --root runs/sweeps --dry_run
  cnnjax sweep configs/sweeps/example.py --root runs/sweeps --parallel 2
  cnnjax sweep configs/sweeps/example.py:tiny --root runs/sweeps   (seconds)
  cnnjax compare runs/sweeps/example
"""

from cnnjax.launch import product


def get_sweep(arg=None):
  config = "configs/dcgan.py:" + ("tiny" if arg == "tiny" else "fashion_mnist")
  return {"config": config,
          "runs": product({"optim.g_lr": [1e-4, 2e-4]}, {"train.seed": [0, 1]})}
