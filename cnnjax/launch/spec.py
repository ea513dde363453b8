"""Sweep files: which runs a sweep has, their names, configs and commands.

A sweep file is Python with `get_sweep(arg=None)` returning

  {"config": "configs/dcgan.py:fashion_mnist",      # the runs' config
   "runs": [{"optim.g_lr": 1e-4, "train.seed": 0},  # overrides, keyed as
            ...]}                                   # the --config. flags

A run may name its own "config". `product` and `zipped` build run lists
(families x seeds x learning rates). Relative config paths are relative to
the project the sweep file is in (the nearest folder above it that holds
the path), else to the current folder.

Run names are deterministic: the overrides whose values differ between
runs, as key=value joined by commas (the last part of a key, or the whole
key where two would read the same), and the config where the runs' configs
differ. A sweep's name is its file's name (with the argument, if any).
"""

import dataclasses
import difflib
import importlib.util
import itertools
import os
import re
import sys
import traceback
from typing import Any

from cnnjax import config as config_lib
from cnnjax.errors import UserError

TOP_KEYS = ("config", "runs")


class SweepError(UserError):
  """A sweep file that cannot be launched."""


def product(*axes: dict[str, list]) -> list[dict]:
  """Every combination: product({"a": [1, 2]}, {"b": [3, 4]}) -> 4 runs.

  A dict with several keys is itself a product of its keys."""
  keys = [key for axis in axes for key in axis]
  if len(set(keys)) != len(keys):
    raise SweepError(f"product(): a key appears twice in {keys}.")
  values = [axis[key] for axis in axes for key in axis]
  return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def zipped(**lists: list) -> list[dict]:
  """Runs side by side: zipped(a=[1, 2], b=[3, 4]) -> [{a: 1, b: 3}, ...]."""
  lengths = {key: len(values) for key, values in lists.items()}
  if len(set(lengths.values())) > 1:
    raise SweepError(f"zipped(): the lists differ in length: {lengths}.")
  return [dict(zip(lists, combo)) for combo in zip(*lists.values())]


@dataclasses.dataclass(frozen=True)
class Run:
  name: str
  config: str  # an absolute config file path with its argument
  overrides: dict  # {"optim.g_lr": 1e-4, ...}

  def config_flags(self) -> list[str]:
    return [f"--config.{key}={format_value(value)}"
            for key, value in self.overrides.items()]


@dataclasses.dataclass(frozen=True)
class Sweep:
  name: str
  file: str  # absolute
  arg: str | None
  runs: tuple[Run, ...]

  def directory(self, root: str) -> str:
    """DIR/<sweep name>: the runs' workdirs, sweep.json and logs/."""
    return os.path.join(os.path.abspath(root), self.name)

  def workdir(self, root: str, run: Run) -> str:
    return os.path.join(self.directory(root), run.name)

  def train_argv(self, run: Run, root: str) -> list[str]:
    """The `cnnjax train` command of a run: W&B group = the sweep's name,
    tags = what sets the run apart."""
    tags = ",".join(part[:64] for part in run.name.split(",")
                    if run.name != "run")
    return [sys.executable, "-m", "cnnjax.main", "train",
            f"--config={run.config}", f"--workdir={self.workdir(root, run)}",
            *run.config_flags(), f"--config.wandb.group={self.name}",
            f"--config.wandb.tags={tags}"]

  def to_json(self) -> dict:
    return {"name": self.name, "file": self.file, "arg": self.arg,
            "runs": [dataclasses.asdict(run) for run in self.runs]}


def format_value(value: Any) -> str:
  """A value as a --config.KEY= flag gives it."""
  if isinstance(value, bool):
    return "true" if value else "false"
  return repr(value) if isinstance(value, float) else str(value)


def load(spec: str) -> Sweep:
  """The sweep of `FILE[:ARG]`: its runs, named, with absolute configs."""
  path, _, arg = spec.partition(":")
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.isfile(path):
    raise SweepError(f"No sweep file {path}; a sweep file is Python with "
                     "get_sweep(arg=None) (README, Sweeps).")
  module = _execute(path)
  get_sweep = getattr(module, "get_sweep", None)
  if not callable(get_sweep):
    raise SweepError(f"{path} has no get_sweep(arg=None) function.")
  try:
    value = get_sweep(arg or None)
  except SweepError:
    raise
  except Exception as error:
    raise SweepError(f"{path}: get_sweep({arg!r}) raised "
                     f"{type(error).__name__}: {error}{_where(error, path)}"
                     ) from None
  base, runs = _check_shape(value, path)
  configs = [_resolve_config(run.pop("config", base), path) for run in runs]
  names = run_names(runs, configs)
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise SweepError(f"{path}: several runs would be named "
                     f"{', '.join(duplicates)}: two runs have the same "
                     "config and overrides.")
  name = os.path.splitext(os.path.basename(path))[0]
  if arg:
    name += "-" + _safe(arg)
  return Sweep(name, path, arg or None, tuple(
      Run(n, c, r) for n, c, r in zip(names, configs, runs)))


def _execute(path: str):
  spec = importlib.util.spec_from_file_location(
      "cnnjax_sweep_" + _safe(os.path.basename(path)), path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except SyntaxError as error:
    raise SweepError(f"{path} line {error.lineno}: syntax error: "
                     f"{error.msg}.") from None
  except Exception as error:
    raise SweepError(f"{path} cannot be loaded: {type(error).__name__}: "
                     f"{error}{_where(error, path)}") from None
  return module


def _where(error: BaseException, path: str) -> str:
  lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
           if frame.filename == path]
  return f" (line {lines[-1]})" if lines else ""


def _check_shape(value, path: str) -> tuple[str | None, list[dict]]:
  if not isinstance(value, dict):
    raise SweepError(f"{path}: get_sweep must return a dict with "
                     f"'config' and 'runs', not a {type(value).__name__}.")
  unknown = sorted(set(value) - set(TOP_KEYS))
  if unknown:
    raise SweepError(f"{path}: unknown key(s) {unknown} in the sweep; it "
                     f"has {', '.join(TOP_KEYS)}.")
  runs = value.get("runs")
  if not isinstance(runs, (list, tuple)) or not runs:
    raise SweepError(f"{path}: the sweep has no runs; 'runs' must be a "
                     "non-empty list of dicts of overrides.")
  checked = []
  for index, run in enumerate(runs):
    if not isinstance(run, dict) or not all(isinstance(k, str) for k in run):
      raise SweepError(f"{path}: run {index} is {run!r}; each run is a "
                       "dict of overrides such as {'train.seed': 1}.")
    if "config" not in run and not value.get("config"):
      raise SweepError(f"{path}: run {index} has no config: give the sweep "
                       "a 'config' or the run one.")
    checked.append(dict(run))
  return value.get("config"), checked


def _resolve_config(config: str, sweep_path: str) -> str:
  """An absolute config path (with its argument)."""
  if not isinstance(config, str) or not config:
    raise SweepError(f"{sweep_path}: a config is a string such as "
                     f"'configs/dcgan.py:fashion_mnist', not {config!r}.")
  file, colon, arg = config.partition(":")
  file = os.path.expanduser(file)
  if not os.path.isabs(file):
    folder = os.path.dirname(sweep_path)
    while not os.path.exists(os.path.join(folder, file)):
      parent = os.path.dirname(folder)
      if parent == folder:
        folder = os.getcwd()
        break
      folder = parent
    file = os.path.join(folder, file)
  if not os.path.isfile(file):
    raise SweepError(f"{sweep_path}: no config file {file}.")
  return os.path.normpath(file) + colon + arg


def run_names(runs: list[dict], configs: list[str]) -> list[str]:
  """Each run's name from what differs between the runs (module docstring):
  the config where configs differ, then the differing overrides, less any
  (the last first) that the others already tell apart, e.g. the step count
  of each family in a sweep of families."""
  keys = []
  for run in runs:
    keys += [key for key in run if key not in keys]
  differing = [key for key in keys
               if len({repr(run.get(key, _MISSING)) for run in runs}) > 1]
  configs_differ = len(set(configs)) > 1
  for key in reversed(list(differing)):
    fewer = [k for k in differing if k != key]
    if _unique(runs, configs if configs_differ else None, fewer):
      differing = fewer
  last = [key.split(".")[-1] for key in differing]
  short = {key: key if last.count(end) > 1 else end
           for key, end in zip(differing, last)}
  names = []
  for run, config in zip(runs, configs):
    parts = [_config_name(config, configs)] if configs_differ else []
    parts += [f"{short[key]}={_safe(format_value(run[key]))}"
              for key in differing if key in run]
    names.append(",".join(parts) or "run")
  return names


def _unique(runs, configs, keys) -> bool:
  seen = {(c, *(repr(run.get(k, _MISSING)) for k in keys))
          for run, c in zip(runs, configs or [None] * len(runs))}
  return len(seen) == len(runs)


_MISSING = object()


def _config_name(config: str, configs: list[str]) -> str:
  """"dcgan", or "dcgan-fashion_mnist" where runs of dcgan differ in the
  config's argument too."""
  def stem(c):
    return os.path.splitext(os.path.basename(c.partition(":")[0]))[0]
  arg = config.partition(":")[2]
  same_file = {c for c in configs if stem(c) == stem(config)}
  return (f"{stem(config)}-{_safe(arg)}" if len(same_file) > 1 and arg
          else stem(config))


def _safe(text: str) -> str:
  return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text)


def build_config(run: Run):
  """The run's config (file, argument, overrides) as `cnnjax train` would
  build it; an unknown key or a wrong type is a SweepError naming the run."""
  file, _, arg = run.config.partition(":")
  module = _execute(file)
  try:
    config = module.get_config(arg or None)
  except UserError as error:
    raise SweepError(f"run {run.name}: {error}") from None
  for key, value in run.overrides.items():
    try:
      config_lib.get_field(config, key)
    except (KeyError, AttributeError):
      flat = config_lib.flatten(config_lib.to_dict(config))
      near = difflib.get_close_matches(key, list(flat), n=1)
      raise SweepError(
          f"run {run.name}: no config field {key!r}"
          + (f" (did you mean {near[0]!r}?)" if near else "") + ".") from None
    try:
      config_lib.set_field(config, key, value)
    except (TypeError, ValueError) as error:
      raise SweepError(f"run {run.name}: {key}={value!r}: {error}") from None
  return config
