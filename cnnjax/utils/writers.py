"""Where metrics go: `metrics.jsonl` in the workdir always, W&B when enabled.

`metrics.jsonl` is the source of truth (one JSON object per line, each with a
`step`); W&B is a view of it, so nothing depends on W&B being reachable.

Every row is of a kind: "train" (the step metrics and throughput) or "eval"
(an evaluation's metrics). metrics.jsonl keeps the keys flat (`d_loss`,
`fid`), as scripts read them; W&B gets them as `<kind>/<key>` (`train/d_loss`,
`eval/fid`), so runs group and compare cleanly in its panels, and images
under `samples/<key>`.
"""

import json
import logging
import math
import netrc
import os
import secrets
from typing import Any

import numpy as np

from cnnjax.errors import ConfigError, UserError
from cnnjax.utils import files

log = logging.getLogger(__name__)

RUN_ID_FILE = "wandb_run_id.txt"
KINDS = ("train", "eval")


class JsonlWriter:
  """Appends one JSON object per call to `<workdir>/metrics.jsonl`."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, "metrics.jsonl")

  def rows(self) -> list[tuple[float, str]]:
    """(step, line) of every row; a last line without its newline (torn by
    a killed process) has step inf. Any other line that is not a row with a
    numeric step is a UserError naming it: the file is only appended to, so
    it was edited, and a resume must not drop it silently."""
    if not os.path.exists(self.path):
      return []
    try:
      with open(self.path) as f:
        lines = f.readlines()
    except UnicodeDecodeError as error:
      raise UserError(f"{self.path} is not text ({error}).") from None
    rows = []
    for number, line in enumerate(lines, 1):
      try:
        row = json.loads(line)
        step = row["step"]
        if not isinstance(step, (int, float)) or isinstance(step, bool):
          raise TypeError("its step is not a number")
      except (json.JSONDecodeError, KeyError, TypeError) as error:
        if number == len(lines) and not line.endswith("\n"):
          rows.append((math.inf, line))  # torn by kill -9
          continue
        raise UserError(
            f"{self.path} line {number} is not a metrics row "
            f"({type(error).__name__}: {error}): {line.strip()[:80]!r}. "
            "Fix or remove that line, then run the command again; nothing "
            "was changed.") from None
      rows.append((step, line))
    return rows

  def truncate_after(self, step: int) -> None:
    """Drops rows logged after `step`: a resumed run recomputes them.

    After `kill -9` the log may run ahead of the last checkpoint; since
    resume is exact, the rows are rewritten identically as training redoes
    those steps.
    """
    rows = self.rows()
    kept = [line for row_step, line in rows if row_step <= step]
    if len(kept) != len(rows):
      with files.atomic_write(self.path) as f:
        f.writelines(kept)

  def write(self, row: dict[str, Any]) -> None:
    with open(self.path, "a") as f:
      f.write(json.dumps(_plain(row)) + "\n")


def _plain(row: dict[str, Any]) -> dict[str, Any]:
  return {k: (v.item() if isinstance(v, np.generic) else
              float(v) if isinstance(v, np.ndarray) else v)
          for k, v in row.items()}


def wandb_credentials_present() -> bool:
  """Whether W&B could log online without asking for a key."""
  if os.environ.get("WANDB_API_KEY"):
    return True
  try:
    return netrc.netrc().authenticators("api.wandb.ai") is not None
  except (FileNotFoundError, netrc.NetrcParseError):
    return False


def resolve_wandb_mode(mode: str) -> str:
  """"auto" becomes online with credentials, offline without; never a prompt."""
  if mode == "auto":
    return "online" if wandb_credentials_present() else "offline"
  return mode


class WandbWriter:
  """Logs to Weights & Biases; the run id is kept in the workdir for resume."""

  def __init__(self, workdir: str, wandb_config, run_config: dict[str, Any]):
    import wandb  # slow to import; only when W&B is on

    self._wandb = wandb
    mode = resolve_wandb_mode(wandb_config.mode)
    if mode == "online" and not wandb_credentials_present():
      raise ConfigError(
          "wandb.mode=online needs credentials: run `wandb login` or set "
          "WANDB_API_KEY, or use --config.wandb.mode=offline.")
    id_path = os.path.join(workdir, RUN_ID_FILE)
    if os.path.exists(id_path):
      with open(id_path) as f:
        run_id = f.read().strip()
    else:
      run_id = secrets.token_hex(4)  # W&B ids are short [a-z0-9] strings
      with open(id_path, "w") as f:
        f.write(run_id + "\n")
    self.mode = mode
    self.run = self._init(mode, run_id, workdir, wandb_config, run_config)
    log.info("%s", describe_wandb_run(self.mode, self.run, workdir))

  def _init(self, mode, run_id, workdir, wandb_config, run_config):
    wandb = self._wandb
    kwargs = dict(
        id=run_id, resume="allow", dir=workdir, config=run_config,
        project=wandb_config.project, entity=wandb_config.entity or None,
        group=wandb_config.group or None,
        tags=[t for t in wandb_config.tags.split(",") if t] or None,
        name=wandb_config.name or os.path.basename(os.path.abspath(workdir)),
        # A bounded wait: a cluster node without network must not hang.
        settings=wandb.Settings(init_timeout=60, silent=True,
                                console="off"))
    try:
      return wandb.init(mode=mode, **kwargs)
    except Exception as error:  # wandb raises its own types and OSErrors
      if mode != "online":
        raise
      log.warning("W&B online init failed (%s); logging offline in %s "
                      "instead (upload later with `wandb sync`).", error,
                      workdir)
      self.mode = "offline"
      return wandb.init(mode="offline", **kwargs)

  def write(self, row: dict[str, Any], kind: str) -> None:
    row = dict(row)
    step = row.pop("step")
    self.run.log({f"{kind}/{key}": value for key, value in _plain(row).items()},
                 step=step)

  def write_image(self, step: int, key: str, path: str) -> None:
    self.run.log({f"samples/{key}": self._wandb.Image(path)}, step=step)

  def close(self) -> None:
    self.run.finish()


def describe_wandb_run(mode: str, run, workdir: str) -> str:
  """The one log line that says where a run's W&B data is.

  Offline, W&B keeps an append-only folder per launch (it never reopens
  one), all carrying the workdir's run id; `wandb sync --id` uploads them in
  order of start into that one run, so a resumed run stays one W&B run.
  """
  if mode != "offline":
    return f"W&B {mode}: {run.url}"
  pattern = os.path.join(os.path.abspath(workdir), "wandb",
                         f"offline-run-*-{run.id}")
  project = f" --project {run.project}" if run.project else ""
  if run.entity:
    project += f" --entity {run.entity}"
  return (f"W&B offline (no credentials, or wandb.mode=offline): run "
          f"{run.id} logs to {run.settings.sync_dir}; every launch of this "
          f"workdir logs to run {run.id}. Upload them all with: "
          f"wandb sync --id {run.id}{project} {pattern}")


class Writers:
  """Fans rows out to JSONL and (optionally) W&B. Creating it writes
  nothing; W&B starts at `start()`, once the run knows it can start."""

  def __init__(self, workdir: str, wandb_config, run_config: dict[str, Any],
               is_chief: bool = True):
    self.jsonl = JsonlWriter(workdir) if is_chief else None
    self.wandb = None
    self._wandb_args = None
    if is_chief and resolve_wandb_mode(wandb_config.mode) != "disabled":
      self._wandb_args = (workdir, wandb_config, run_config)

  def start(self) -> None:
    if self._wandb_args:
      self.wandb = WandbWriter(*self._wandb_args)
    elif self.jsonl:
      log.info("W&B disabled (wandb.mode=disabled); metrics go to %s only.",
               self.jsonl.path)

  def write(self, row: dict[str, Any], kind: str) -> None:
    """One row of `kind` ("train" or "eval"); see the module docstring."""
    if kind not in KINDS:
      raise ValueError(f"kind={kind!r} must be one of {KINDS}")
    if self.jsonl:
      self.jsonl.write(row)
    if self.wandb:
      self.wandb.write(row, kind)

  def write_image(self, step: int, key: str, path: str) -> None:
    if self.wandb:
      self.wandb.write_image(step, key, path)

  def close(self) -> None:
    if self.wandb:
      self.wandb.close()
