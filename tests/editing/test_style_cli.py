"""`cnnjax stylize` through the real entry point: what it writes and
prints, and one clear message with exit code 2 for each bad input."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from cnnjax.editing import style_command
from cnnjax.errors import UserError
from tests.conftest import cli

# No converted VGG-19 here: stylize must fall back to random weights.
NO_WEIGHTS = {"CNNJAX_VGG19_WEIGHTS": "/nonexistent/vgg19.npz"}


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
  """A 48x40 content, a 30x30 style (smooth: blocks of 6 px) and masks of
  two sizes."""
  folder = tmp_path_factory.mktemp("style")
  rng = np.random.default_rng(0)
  paths = {}
  for name, shape in (("content", (40, 48)), ("style", (30, 30))):
    blocks = rng.integers(0, 256, (-(-shape[0] // 6), shape[1] // 6, 3),
                          dtype=np.uint8)
    pixels = blocks.repeat(6, 0).repeat(6, 1)[:shape[0]]
    paths[name] = str(folder / f"{name}.png")
    Image.fromarray(pixels).save(paths[name])
  for name, shape in (("mask", (40, 48)), ("small_mask", (20, 24))):
    paths[name] = str(folder / f"{name}.png")
    mask = np.zeros(shape, np.uint8)
    mask[:, shape[1] // 2:] = 255
    Image.fromarray(mask).save(paths[name])
  paths["broken"] = str(folder / "broken.png")
  with open(paths["broken"], "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n not really")
  paths["not_vgg"] = str(folder / "not_vgg.npz")
  np.savez(paths["not_vgg"], w=np.zeros(3))
  return paths


def _args(pictures, out, *extra):
  return ("stylize", f"--content={pictures['content']}",
          f"--style={pictures['style']}", f"--out={out}", "--size=32",
          "--steps=3", "--layers=tutorial", *extra)


@pytest.mark.slow
def test_stylize_writes_out_and_one_json_line(pictures, tmp_path):
  out = str(tmp_path / "styled.png")
  result = cli(*_args(pictures, out, f"--mask={pictures['mask']}",
                      "--preserve_color"), env=NO_WEIGHTS)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.strip().splitlines()
  assert len(lines) == 1
  row = json.loads(lines[0])
  assert row["network"] == "vgg19:random:0" and row["method"] == "gatys"
  assert "vgg19:random:0" in result.stderr  # said on stderr too
  assert row["size"] == [27, 32] and row["steps"] == 3
  assert row["final"]["total"] < row["initial"]["total"]
  assert row["seconds"] > 0 and row["optimizer"] == "adam"
  assert Image.open(out).size == (32, 27)


def _assert_clean_error(result, *fragments):
  assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
  assert "Traceback" not in result.stderr
  errors = [line for line in result.stderr.splitlines()
            if line.startswith("cnnjax: error:")]
  assert len(errors) == 1, result.stderr[-3000:]
  for fragment in fragments:
    assert fragment in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize("change,fragments", [
    ({"content": "broken"}, ["cannot read", "broken.png"]),
    ({"vgg": "not_vgg"}, ["not_vgg.npz"]),
    ({"mask": "small_mask"}, ["24x20", "48x40", "content's size"]),
])
def test_bad_input_exits_2(pictures, tmp_path, change, fragments):
  out = str(tmp_path / "out.png")
  args = list(_args(pictures, out))
  for flag, name in change.items():
    args = [a for a in args if not a.startswith(f"--{flag}=")]
    args.append(f"--{flag}={pictures[name]}")
  _assert_clean_error(cli(*args, env=NO_WEIGHTS), *fragments)
  assert not os.path.exists(out)


def test_existing_out_is_kept_without_overwrite(pictures, tmp_path):
  out = tmp_path / "out.png"
  out.write_bytes(b"a user's picture")
  _assert_clean_error(cli(*_args(pictures, str(out))), "--overwrite")
  assert out.read_bytes() == b"a user's picture"


@pytest.mark.parametrize("kwargs,fragment", [
    ({"content": "/no/such/photo.png"}, "no such file"),
    ({"style_images": "/no/such/style.jpg"}, "no such file"),
    ({"method": "neural"}, "gatys"),
    ({"workdir": "/some/run"}, "--method adain"),
    ({"style_weights": "1,x"}, "--style_weights"),
    ({"mask": "/no/such/mask.png"}, "no such mask"),
])
def test_bad_arguments_are_user_errors(pictures, tmp_path, kwargs, fragment):
  args = {"content": pictures["content"], "style_images": pictures["style"],
          "out": str(tmp_path / "out.png"), "size": 32, **kwargs}
  with pytest.raises(UserError, match=fragment):
    style_command.stylize_images(args.pop("content"), args.pop("style_images"),
                                 args.pop("out"), **args)


def test_a_size_beyond_memory_names_one_that_fits():
  from tests.editing.test_style import SETTINGS, tiny_net
  with pytest.raises(UserError, match=r"GiB.*use --size \d+ or less"):
    style_command.check_memory(tiny_net(), SETTINGS, (60000, 80000), 1)
  style_command.check_memory(tiny_net(), SETTINGS, (600, 800), 1)
