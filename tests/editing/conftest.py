"""One tiny DCGAN run (digits, 20 steps, checkpoints 10 and 20) shared by
the editing tests of a test process: trained once, on one device (fewer
programs to compile; its checkpoints restore onto any mesh)."""

import jax
import pytest

from cnnjax.train import loop
from tests.conftest import load_config


@pytest.fixture(scope="session")
def gan_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("gan"))
  loop.train_and_evaluate(load_config("dcgan", "tiny"), workdir,
                          devices=jax.devices()[:1])
  return workdir
