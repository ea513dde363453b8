"""Latent spaces z, w and w+ (cnnjax.editing.spaces): each space's images
against the generator's own path, starts and priors against their
definitions, SeFa's style kernel against the parameters, and inversion in
W and W+ of images a StyleGAN2 made, through the Editor and `invert`/`edit`
commands."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import config as config_lib
from cnnjax.editing import commands, edit_command, edits, invert, session
from cnnjax.editing import generator as generator_lib
from cnnjax.editing import spaces
from cnnjax.errors import UserError
from cnnjax.metrics import reconstruction
from cnnjax.models import variables
from cnnjax.train import loop
from tests.conftest import load_config


@pytest.fixture(scope="module")
def tiny_style():
  """A freshly built tiny StyleGAN2 generator (the tiny config's) with a
  w_avg moved off zero, and its config values."""
  values = config_lib.to_dict(load_config("stylegan2", "tiny"))
  module = generator_lib.build(values["model"], values["data"])
  module.mapping_network.w_avg[...] = jnp.linspace(-1, 1, 16)
  return module, values


def _space(name, module, values):
  section = values["model"]["generator"]
  return spaces.Space(name, "stylegan2", section["latent_dim"],
                      section["w_dim"], module.num_ws)


def test_each_space_draws_what_the_generator_draws(tiny_style):
  module, values = tiny_style
  z = jax.random.normal(jax.random.PRNGKey(0), (3, 16))
  w_space, plus = (_space(n, module, values) for n in ("w", "w+"))
  direct = module(z, train=False, noise_mode="const")
  w = w_space.from_z(module, z)
  np.testing.assert_array_equal(w, module.mapping(z))
  np.testing.assert_allclose(w_space.generate(module, w), direct, atol=1e-6)
  ws = plus.from_z(module, z)
  assert ws.shape == (3, module.num_ws * 16) == (3, plus.size)
  np.testing.assert_array_equal(plus.layers(ws), module.broadcast(w))
  np.testing.assert_allclose(plus.generate(module, ws), direct, atol=1e-6)
  # Starts: w_avg in every layer; z's is 0.
  w_avg = np.asarray(module.w_avg)
  assert w_avg[0] == -1 and w_avg[-1] == 1  # as the fixture set it
  np.testing.assert_allclose(w_space.start(module, 2), np.tile(w_avg, (2, 1)))
  np.testing.assert_allclose(plus.layers(plus.start(module, 2)),
                             np.broadcast_to(w_avg, (2, module.num_ws, 16)))
  # Priors: z's shell; w+'s distance of each layer from the first; w none.
  z_space = spaces.Space("z", "stylegan2", 16)
  np.testing.assert_allclose(z_space.prior(jnp.full((1, 16), 2.0)), [9.0])
  assert float(plus.prior(ws).max()) == 0.0
  moved = plus.layers(ws).at[:, 1].add(1.0).reshape(3, -1)
  np.testing.assert_allclose(plus.prior(moved), 1.0 / module.num_ws,
                             rtol=1e-6)
  assert float(jnp.abs(w_space.prior(w)).max()) == 0.0


def test_style_kernel_and_space_checks(tiny_style):
  module, _ = tiny_style
  _, weights = variables.split(module)
  kernel = spaces.style_kernel(weights.params)
  expected = np.concatenate([
      np.asarray(conv.affine.weight[...]) for block in module.blocks
      for conv in block.convs], axis=1)
  np.testing.assert_array_equal(kernel, expected)
  with pytest.raises(UserError, match="only z"):
    spaces.check("w", "dcgan")
  with pytest.raises(UserError, match="z, w, w\\+"):
    spaces.check("W", "stylegan2")
  assert spaces.default("stylegan2") == "w" and spaces.default("dcgan") == "z"
  dcgan = config_lib.to_dict(load_config("dcgan", "tiny"))
  assert generator_lib.make_space(dcgan).name == "z"
  with pytest.raises(UserError, match="only z"):  # `invert --space w`
    generator_lib.make_space(dcgan, "w")


@pytest.mark.slow
def test_inversion_in_w_and_w_plus_recovers_what_the_generator_made(
    stylegan2_run):
  # From near the truth, the pixel loss alone walks back to the images:
  # in W to the latents themselves; W+ (num_ws x 16 numbers for 32 x 32
  # pixels) has other latents drawing nearly the same image. Measured with
  # these settings: W (400 steps) 86.6-138.9 dB, median 121, |w - truth|
  # 2e-4; W+ (150 steps) 23.1-40.6 dB, median 30.4; from 6-22 dB at the
  # start.
  psnr = lambda a, b: np.asarray(reconstruction.psnr(a, b))
  for space, steps, bound, median in (("w", 400, 60, 80), ("w+", 150, 20, 28)):
    editor = session.Editor(stylegan2_run, space=space, batch_size=8)
    assert editor.spread() > 0
    rng = np.random.default_rng(0)
    z = rng.standard_normal((8, editor.gen.latent_dim)).astype(np.float32)
    truth = editor.from_z(z)
    images = editor.generate(truth)
    start = truth + 0.3 * editor.spread() * rng.standard_normal(
        truth.shape).astype(np.float32)
    exact = invert.Settings(steps=steps, lr=0.1, perceptual_weight=0.0,
                            prior_weight=0.0, noise=0.0)
    found, _ = editor.optimize(images, None, start, exact)
    assert psnr(images, editor.generate(start)).max() < 25
    recovered = psnr(images, editor.generate(found))
    assert recovered.min() > bound and np.median(recovered) > median, space
    if space == "w":
      np.testing.assert_allclose(found, truth, atol=1e-2)


def _dcgan_like(tmp_path):
  """A workdir whose config names a DCGAN generator (space checks come
  before any checkpoint is read)."""
  from cnnjax import workdir as workdir_lib
  workdir = str(tmp_path / "dcgan")
  workdir_lib.write_config(config_lib.to_dict(load_config("dcgan", "tiny")),
                           workdir, changes=[])
  return workdir


@pytest.mark.slow
def test_an_encoder_into_w_plus_trains_and_inverts(stylegan2_run, tmp_path):
  config = load_config("encoder", f"gan={stylegan2_run},space=w+,tiny")
  config.train.num_steps = 2
  space = generator_lib.make_space(config_lib.to_dict(config), "w+")
  assert config.model.space == "w+"
  assert config.model.encoder.latent_dim == space.size == space.num_ws * 16
  encoder_run = str(tmp_path / "encoder")
  loop.train_and_evaluate(config, encoder_run, devices=jax.devices()[:1])
  out = str(tmp_path / "inv")
  row = commands.invert_images(stylegan2_run, "dataset:digits:test:4", out,
                               method="encoder", encoder=encoder_run,
                               space="w+", metrics=False)
  stored = commands.load_latents(os.path.join(out, commands.LATENTS))
  assert row["space"] == "w+" and stored["z"].shape == (4, space.size)
  # An edit reads the space back: SeFa in W, the same move in every layer.
  grid = str(tmp_path / "sefa.png")
  edit_command.edit(stylegan2_run, os.path.join(out, commands.LATENTS),
                    "sefa", grid, strengths="-1,1", rows=2)
  moved = np.load(grid[:-4] + ".npz")
  assert os.path.exists(grid) and len(moved.files) > 0
  # Interpolation in W+ is linear by default (w is not Gaussian).
  lerped = str(tmp_path / "lerp.png")
  row = edit_command.edit(stylegan2_run, os.path.join(out, commands.LATENTS),
                          "interpolate", lerped, frames=3, rows=2)
  assert row["interpolation"] == "lerp"
  path = np.load(lerped[:-4] + ".npz")["z"]
  latents = stored["z"][:2]
  np.testing.assert_allclose(path[0, 1], (latents[0] + latents[1]) / 2,
                             rtol=1e-6, atol=1e-6)
  editor = session.Editor(stylegan2_run, space="w+")
  directions, _ = edits.sefa(editor, 2)
  layers = directions.reshape(2, space.num_ws, -1)
  np.testing.assert_array_equal(layers, np.repeat(layers[:, :1],
                                                  space.num_ws, 1))
  with pytest.raises(UserError, match="maps images to w\\+"):
    commands.invert_images(stylegan2_run, "dataset:digits:test:4",
                           str(tmp_path / "w"), method="encoder",
                           encoder=encoder_run, metrics=False)  # w
  with pytest.raises(UserError, match="only z"):
    load_config("encoder", f"gan={_dcgan_like(tmp_path)},space=w,tiny")
