"""The workdir module (config.json, restoring a checkpoint or one subtree of
it, refusing workdirs of another format) and warm starts built on it."""

import json
import os

import jax
import numpy as np
import pytest

from cnnjax import config as config_lib
from cnnjax import runs, sharding, tasks
from cnnjax import workdir as workdir_lib
from cnnjax.errors import CheckpointError, ConfigError, UserError
from cnnjax.train import loop
from cnnjax.utils.trees import tree_sha256
from tests.conftest import cli, load_config

TINY = "configs/dcgan.py:tiny"
EMA = "--config.ema.half_life_kimg=1"  # the source run keeps an EMA


def _leaves_equal(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in
             zip(jax.tree.leaves(jax.device_get(a)),
                 jax.tree.leaves(jax.device_get(b))))


def _dcgan_with_ema():
  config = load_config("dcgan", "tiny")
  config.ema.half_life_kimg = 1.0
  return config


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
  """A tiny DCGAN with an EMA trained 4 steps: the run warm starts read."""
  config = _dcgan_with_ema()
  config.train.num_steps = 4
  workdir = str(tmp_path_factory.mktemp("source"))
  loop.train_and_evaluate(config, workdir)
  return workdir


def test_config_json_round_trip_and_format(tmp_path):
  config = load_config("dcgan", "tiny")
  values = config_lib.to_dict(config)
  workdir_lib.write_config(values, str(tmp_path), changes=[])
  stored = json.load(open(tmp_path / "config.json"))
  assert stored[workdir_lib.FORMAT_KEY] == workdir_lib.FORMAT
  assert workdir_lib.read_config(str(tmp_path)) == values


@pytest.mark.parametrize("content,message", [
    (None, "earlier version of cnnjax"),  # format 1: no format key
    ("[1, 2]", "JSON list, not the object"),
    ('{"task": "gan", ', "cannot be read"),
])
def test_unreadable_or_old_config_json_is_refused(tmp_path, content, message):
  if content is None:
    old = config_lib.to_dict(load_config("dcgan", "tiny"))
    old["model"] = {"name": "dcgan", "latent_dim": 16, "base_width": 8}
    content = json.dumps(old)
  (tmp_path / "config.json").write_text(content)
  with pytest.raises(UserError, match=message):
    workdir_lib.read_config(str(tmp_path))


def test_a_workdir_of_the_earlier_format_is_refused_not_misread(tmp_path):
  """A workdir written before the typed states: one clear message naming
  the commit that reads it, exit 2, and nothing changes in it."""
  old = config_lib.to_dict(load_config("dcgan", "tiny"))
  old["model"] = {"name": "dcgan", "latent_dim": 16, "base_width": 8}
  (tmp_path / "config.json").write_text(json.dumps(old))
  os.makedirs(tmp_path / "checkpoints" / "10" / "state")
  before = sorted(os.walk(tmp_path))
  for args in (["inspect"], ["train", f"--config={TINY}"],
               ["sample", f"--out={tmp_path / 'x.png'}"]):
    result = cli(*args, f"--workdir={tmp_path}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "workdir format 1" in result.stderr
    assert workdir_lib.LAST_FORMAT_1_COMMIT in result.stderr
    assert "Traceback" not in result.stderr
  assert sorted(os.walk(tmp_path)) == before


def test_restore_subtree_reads_only_that_subtree(source_run):
  run = runs.load(source_run)
  abstract = run.task.abstract_state(run.mesh)
  step, generator = workdir_lib.restore_subtree(source_run, "generator",
                                                abstract.generator)
  assert step == 4 and _leaves_equal(generator, run.state.generator)
  _, ema = workdir_lib.restore_subtree(source_run, "ema_params",
                                       abstract.ema_params)
  assert _leaves_equal(ema, run.state.ema_params)
  assert not _leaves_equal(ema, run.state.generator.params)


def test_restore_subtree_mismatches_are_one_clear_error(source_run):
  config = _dcgan_with_ema()
  config.model.generator.base_width = 16  # the source has 8
  abstract = tasks.build(config).abstract_state(sharding.make_mesh())
  with pytest.raises(CheckpointError) as error:
    workdir_lib.restore_subtree(source_run, "generator", abstract.generator)
  text = str(error.value)
  assert "'generator'" in text and "does not fit this model" in text
  assert "(8," in text and "(16," in text  # a kernel's two shapes
  with pytest.raises(CheckpointError, match="no subtree 'encoder'"):
    workdir_lib.restore_subtree(source_run, "encoder", abstract.generator)


def _warm_config(source, subtrees, **fields):
  config = _dcgan_with_ema()
  config.train.num_steps = 2
  config.init_from.workdir = source
  config.init_from.subtree = subtrees
  for field, value in fields.items():
    section, key = field.split("__")
    config[section][key] = value
  return config


def test_warm_start_loads_the_subtree_and_keeps_the_rest_fresh(source_run,
                                                               tmp_path):
  source = runs.load(source_run).state
  config = _warm_config(source_run, "generator", train__num_steps=0)
  workdir = str(tmp_path / "warm")
  loop.train_and_evaluate(config, workdir)
  warm = runs.load(workdir).state
  fresh = tasks.build(config).create_state(sharding.make_mesh())
  assert _leaves_equal(warm.generator, source.generator)
  assert _leaves_equal(warm.discriminator, fresh.discriminator)
  assert _leaves_equal(warm.g_opt, fresh.g_opt)  # params only
  # The EMA starts from the loaded generator, not from random weights.
  assert _leaves_equal(warm.ema_params, source.generator.params)


@pytest.mark.slow
def test_warm_start_into_another_place_then_resume_without_the_source(
    source_run, tmp_path):
  """SOURCE:TARGET loads the source run's EMA as the new generator; once
  the run has a checkpoint, it resumes from it and never reads init_from
  again (the source may be gone)."""
  import shutil
  source_copy = str(tmp_path / "source")
  shutil.copytree(source_run, source_copy)
  ema = runs.load(source_copy).state.ema_params
  workdir = str(tmp_path / "warm")
  config = _warm_config(source_copy, "ema_params:generator.params")
  result = cli("train", f"--config={TINY}", EMA, f"--workdir={workdir}",
               f"--config.init_from.workdir={source_copy}",
               "--config.init_from.subtree=ema_params:generator.params",
               "--config.train.num_steps=0")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "warm start: ema_params (step 4) as generator.params" in result.stderr
  assert _leaves_equal(runs.load(workdir).state.generator.params, ema)
  shutil.rmtree(source_copy)
  resumed = cli("train", f"--config={TINY}", EMA, f"--workdir={workdir}",
                f"--config.init_from.workdir={source_copy}",
                "--config.init_from.subtree=ema_params:generator.params",
                f"--config.train.num_steps={config.train.num_steps}")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "Resuming from the checkpoint of step 0" in resumed.stderr


@pytest.mark.parametrize("subtrees,field,error,message", [
    ("generator", "model.generator.base_width=16", CheckpointError,
     "does not fit this model"),
    ("encoder:generator", None, CheckpointError, "no subtree 'encoder'"),
    ("generator:encoder", None, ConfigError, "loads weights only"),
    ("step", None, ConfigError, "loads weights only"),
    ("generator.params.project:g_opt", None, ConfigError,
     "loads weights only"),
    ("generator.params,generator", None, ConfigError, "would overwrite"),
    ("generator,generator", None, ConfigError, "would overwrite"),
    ("generator.params:ema_params", "ema.half_life_kimg=0.0", ConfigError,
     "leaves empty"),
    ("generator", "init_from.step=3", CheckpointError,
     "No checkpoint for step 3"),
    ("", None, ConfigError, "go together"),
])
def test_warm_start_errors_name_the_problem_before_the_workdir_is_made(
    source_run, tmp_path, subtrees, field, error, message):
  config = _warm_config(source_run, subtrees)
  if field:
    path, value = field.split("=")
    *sections, key = path.split(".")
    section = config
    for name in sections:
      section = section[name]
    section[key] = type(section[key])(value)
  workdir = tmp_path / "run"
  with pytest.raises(error, match=message):
    loop.train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


def test_a_warm_start_error_exits_2_without_a_traceback(source_run, tmp_path):
  result = cli("train", f"--config={TINY}", f"--workdir={tmp_path / 'run'}",
               f"--config.init_from.workdir={source_run}",
               "--config.init_from.subtree=generator",
               "--config.model.generator.base_width=16")
  assert result.returncode == 2, result.stderr[-2000:]
  assert "does not fit this model" in result.stderr
  assert "Traceback" not in result.stderr


def test_typed_state_digests_cover_every_field(source_run):
  """state_sha256 changes with any field of the typed state."""
  run = runs.load(source_run)
  digest = tree_sha256(run.state)
  changed = run.state.replace(ada_p=None, step=run.state.step + 1)
  assert tree_sha256(changed) != digest
  assert run.task.digests(run.state)["state_sha256"] == digest


def test_reading_a_run_creates_nothing_and_checks_the_source(source_run,
                                                             tmp_path):
  """A warm start from a path that is not a cnnjax workdir (or one of an
  earlier format) is refused as such, and reading creates no directory
  there."""
  missing = tmp_path / "no_such_run"
  config = _warm_config(str(missing), "generator")
  with pytest.raises(UserError, match="not a cnnjax workdir"):
    loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert not missing.exists() and not (tmp_path / "run").exists()
  empty = tmp_path / "configured_only"
  workdir_lib.write_config(config_lib.to_dict(_dcgan_with_ema()), str(empty),
                           changes=[])
  with pytest.raises(CheckpointError, match="no checkpoint yet"):
    runs.load(str(empty))
  assert os.listdir(empty) == ["config.json"]


def test_an_empty_source_subtree_says_so(tmp_path):
  """ema_params of a run without an EMA is named as empty, not as a list
  of every array missing."""
  config = load_config("dcgan", "tiny")
  config.train.num_steps = 1
  no_ema = str(tmp_path / "no_ema")
  loop.train_and_evaluate(config, no_ema)
  warm = _warm_config(no_ema, "ema_params:generator.params")
  with pytest.raises(CheckpointError, match="'ema_params' .* is empty"):
    loop.train_and_evaluate(warm, str(tmp_path / "run"))


def test_a_subtree_is_checked_against_its_digest(source_run, tmp_path):
  """A warm start reads only one field, and checks it against that field's
  own digest saved with the checkpoint."""
  import shutil
  copy = str(tmp_path / "copy")
  shutil.copytree(source_run, copy)
  run = runs.load(copy)
  abstract = run.task.abstract_state(run.mesh)
  digest_file = os.path.join(copy, "checkpoints", "4", "digest", "metadata")
  with open(digest_file) as f:
    digests = json.load(f)
  assert set(digests["fields"]) >= {"generator", "discriminator",
                                    "ema_params", "g_opt"}
  digests["fields"]["generator"] = "0" * 64
  with open(digest_file, "w") as f:
    json.dump(digests, f)
  with pytest.raises(CheckpointError, match="generator does not match"):
    workdir_lib.restore_subtree(copy, "generator.params",
                                abstract.generator.params)
  # Another field is still read, checked against its own digest.
  _, ema = workdir_lib.restore_subtree(copy, "ema_params", abstract.ema_params)
  assert _leaves_equal(ema, run.state.ema_params)
