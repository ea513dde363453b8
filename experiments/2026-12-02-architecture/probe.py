"""Prints, as JSON, what the restructure of issue 11 must not change: the
initial G and D variables of every family's configs, and 4-step tiny runs
(their metrics.jsonl rows and final generator weights).

Runs against the cnnjax found first on sys.path, before (commit a8c0012)
or after the restructure; `same_as_before.py` runs it in both and compares.
"""

import importlib.util
import json
import os
import sys
import tempfile

from flax import nnx

import cnnjax
from cnnjax.utils.trees import tree_sha256

ROOT = os.getcwd()
# The restructured layout has cnnjax/tasks/ (looked up on disk: an editable
# install's finder would find the other checkout's modules).
NEW = os.path.isdir(os.path.join(os.path.dirname(cnnjax.__file__), "tasks"))
FAMILIES = ["dcgan", "mlp_gan", "lsgan", "sngan", "wgan_gp", "cgan"]
RUNS = [("dcgan", {}), ("mlp_gan", {}), ("lsgan", {}), ("sngan", {}),
        ("wgan_gp", {}), ("cgan", {}),
        ("sngan", {"train.n_critic": 1, "augment.policy":
                   "color,translation,cutout", "augment.ada_target": 0.6,
                   "augment.ada_kimg": 0.1}),
        ("dcgan", {"ema.half_life_kimg": 0.1}),
        # Changed on purpose: ADA's sign over all D updates, lazy R1 as a
        # phase of its own.
        ("sngan", {"augment.policy": "color,translation,cutout",
                   "augment.ada_target": 0.6, "augment.ada_kimg": 0.1}),
        ("sngan", {"loss.r1_gamma": 1.0, "loss.r1_every": 2})]


def config_of(family, arg):
  path = os.path.join(ROOT, "configs", f"{family}.py")
  spec = importlib.util.spec_from_file_location("config_file", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def networks(config):
  if NEW:
    from cnnjax.tasks.gan import state
    return state.build_networks(config, 0)
  from cnnjax import models
  return models.build(config, 0)


def final_generator(workdir):
  if NEW:
    from cnnjax import runs
    state = runs.load(workdir).state
    return state.generator.params, state.ema_params
  from cnnjax.train import run
  state = run.load_run(workdir)[3]
  return state["g_params"], state.get("ema_params")


def main():
  from cnnjax.train import loop
  out = {"initial": {}, "runs": {}}
  for family in FAMILIES:
    for arg in ("tiny", "fashion_mnist"):
      g, d = networks(config_of(family, arg))
      out["initial"][f"{family}:{arg}"] = [tree_sha256(nnx.state(g)),
                                           tree_sha256(nnx.state(d))]
  for family, overrides in RUNS:
    config = config_of(family, "tiny")
    config.train.num_steps, config.train.log_every_steps = 4, 1
    for field, value in overrides.items():
      section, key = field.split(".")
      config[section][key] = value
    workdir = tempfile.mkdtemp()
    loop.train_and_evaluate(config, workdir)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      rows = [{k: v for k, v in json.loads(line).items()
               if k not in ("steps_per_sec", "images_per_sec", "wall_time")}
              for line in f]
    params, ema = final_generator(workdir)
    out["runs"][family + json.dumps(overrides)] = {
        "rows": rows, "generator": tree_sha256(params),
        "ema": None if ema is None else tree_sha256(ema)}
  json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
  main()
