"""A class-conditional generator (the cBN + projection ResNet): inversion
uses the images' labels, and `direction` switches the label with the
latent kept, column k being G(z, k)."""

import jax
import numpy as np
import pytest

from PIL import Image

from cnnjax import workdir as workdir_lib
from cnnjax.editing import commands, edit_command, inputs
from cnnjax.editing import generator as generator_lib
from cnnjax.train import loop
from cnnjax.utils import images
from tests.conftest import load_config


def gen_data(workdir):
  return workdir_lib.read_config(workdir)["data"]


@pytest.mark.slow
def test_label_switch_keeps_the_latent(tmp_path):
  config = load_config("cgan", "tiny")
  config.train.num_steps = 2
  gan = str(tmp_path / "gan")
  # One device: the edits do not depend on how G was trained, and its
  # program compiles in a fraction of the 8-device one's time.
  loop.train_and_evaluate(config, gan, devices=jax.devices()[:1])
  out = str(tmp_path / "inverted")
  row = commands.invert_images(gan, "dataset:digits:test:4", out,
                               method="optimize", steps=2, metrics=False)
  assert row["num_images"] == 4
  stored = commands.load_latents(f"{out}/latents.npz")
  read = inputs.read_images("dataset:digits:test:4", gen_data(gan))
  np.testing.assert_array_equal(stored["labels"], read.labels)
  gen = generator_lib.read(gan)
  # The reconstructions were drawn with the images' own labels.
  again = np.asarray(gen.generate(gen.weights, stored["z"],
                                  stored["labels"]))
  np.testing.assert_allclose(stored["reconstructions"], again, atol=1e-5)

  grid = str(tmp_path / "switch.png")
  result = edit_command.edit(gan, f"{out}/latents.npz", "direction", grid,
                             rows=4)
  assert result["method"] == "label_switch"
  edited = np.load(grid[:-4] + ".npz")["z"]
  assert edited.shape == (4, 10, stored["z"].shape[1])
  np.testing.assert_array_equal(edited[:, 3], stored["z"])
  # Column 2 + k of the grid (after original and reconstruction) is G(z, k).
  cells = np.asarray(Image.open(grid))[::2, ::2]  # saved at scale 2
  for k in (0, 7):
    expected = images.to_uint8(gen.generate(gen.weights, stored["z"],
                                            np.full(4, k, np.int32)))
    for r in range(4):
      top, left = 2 + r * 34, 2 + (2 + k) * 34
      cell = cells[top:top + 32, left:left + 32].astype(int)
      assert np.abs(cell - expected[r, ..., 0].astype(int)).max() <= 1
  result = edit_command.edit(gan, f"{out}/latents.npz", "direction",
                             str(tmp_path / "to7.png"), rows=4, target=7)
  assert 0 <= result["success_rate"] <= 1 and result["target"] == 7
