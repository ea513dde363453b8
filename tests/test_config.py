"""Config files, validation and the resume-compatibility diff."""

import pytest

from cnnjax import config as config_lib
from cnnjax import tasks
from cnnjax.errors import ConfigError
from tests.conftest import load_config


def validate(config, num_devices=8):
  tasks.get(config.task).validate(config, num_devices)


@pytest.mark.parametrize("name", ["dcgan", "mlp_gan", "lsgan", "sngan",
                                  "wgan_gp", "cgan"])
@pytest.mark.parametrize("arg", ["fashion_mnist", "digits", "tiny",
                                 "fashion_mnist,tiny", None])
def test_config_files_validate(name, arg):
  config = load_config(name, arg)
  validate(config)
  if arg and "tiny" in arg:
    assert config.train.num_steps <= 50
  if arg and arg.startswith("fashion_mnist"):
    assert config.data.name == "fashion_mnist"


def test_unknown_arg_names_the_choices():
  with pytest.raises(ConfigError, match="fashion_mnist, digits"):
    load_config("dcgan", "cifar")


@pytest.mark.parametrize("field,value,message", [
    ("model.generator.name", "stylegan9", "model.generator.name"),
    ("model.discriminator.name", "resnet", "bn_momentum is not a field"),
    ("model.generator.base_width", -1, "base_width=-1 must be positive"),
    ("data.resolution", 30, "28, 32, 64, 128 or 256"),
    ("data.resolution", 128, "'dcgan' is built for 28, 32, 64"),
    ("train.batch_size", 12, "multiple of the 8 devices"),
    ("wandb.mode", "sometimes", "wandb.mode"),
    ("optim.b1", 1.5, "optim.b1"),
    ("train.log_every_steps", 0, "log_every_steps"),
    ("model.num_classes", 10, "needs a conditional generator"),
    ("loss.name", "softmax", "loss.name"),
    ("augment.policy", "color,rotate", "rotate"),
    ("augment.ada_target", 0.6, "needs an augment.policy"),
    ("train.n_critic", 0, "n_critic"),
    ("init_from.workdir", "/some/run", "init_from.subtree"),
    ("init_from.step", "last", "init_from.step"),
    ("task", "segmentation", "task='segmentation'"),
])
def test_invalid_values_are_named(field, value, message):
  config = load_config("dcgan", "tiny")
  *sections, key = field.split(".")
  section = config
  for name in sections:
    section = section[name]
  section[key] = value
  with pytest.raises(ConfigError, match=message):
    validate(config)


def test_locked_config_rejects_unknown_keys_and_types():
  config = load_config("dcgan", "tiny")
  config.lock()
  with pytest.raises(AttributeError):
    config.train.num_stpes = 3
  with pytest.raises(TypeError):
    config.train.num_steps = "many"


def test_differences_ignore_resumable_fields():
  old = config_lib.to_dict(load_config("dcgan", "tiny"))
  new_config = load_config("dcgan", "tiny")
  new_config.train.num_steps = 999
  new_config.train.log_every_steps = 7
  new_config.wandb.mode = "offline"
  assert config_lib.differences(old, config_lib.to_dict(new_config)) == []
  new_config.optim.g_lr = 1e-3
  new_config.train.seed = 5
  diff = config_lib.differences(old, config_lib.to_dict(new_config))
  assert len(diff) == 2
  assert "optim.g_lr" in diff[0] and "train.seed" in diff[1]


def test_fields_added_later_read_as_what_older_workdirs_did():
  old = config_lib.to_dict(load_config("dcgan", "tiny"))
  del old["data"]["crop"]  # a workdir written before data.crop existed
  new_config = load_config("dcgan", "tiny")
  assert config_lib.differences(old, config_lib.to_dict(new_config)) == []
  new_config.data.crop = "random"
  assert config_lib.differences(old, config_lib.to_dict(new_config)) == [
      "  data.crop: 'center' in the workdir, 'random' now"]


@pytest.mark.parametrize("name", ["dcgan", "mlp_gan", "sngan", "classifier"])
def test_json_round_trip(name):
  """A config read back from config.json is the config, also for families
  whose fields differ from the task's default family (mlp: no bn_momentum)."""
  config = load_config(name, "fashion_mnist")
  again = tasks.config_from_dict(config_lib.to_dict(config))
  assert config_lib.to_dict(again) == config_lib.to_dict(config)
  validate(again)


@pytest.mark.parametrize("arg", ["fashion_mnist", "digits", "tiny", None])
def test_classifier_configs_validate(arg):
  config = load_config("classifier", arg)
  validate(config)
  assert config.task == "classifier" and "generator" not in config.model


def test_classifier_invalid_value_is_named():
  config = load_config("classifier", "tiny")
  config.model.num_classes = 1
  with pytest.raises(ConfigError, match="num_classes"):
    validate(config)
