"""The persistent compilation cache that every `cnnjax` command turns on."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import json, jax, jax.numpy as jnp
from cnnjax.utils import compile_cache
path = compile_cache.enable()
with compile_cache.Watch() as watch:
  jax.jit(lambda x: jnp.sin(x) @ x.T)(jnp.ones((64, 64))).block_until_ready()
print(json.dumps({"path": path, "jax": jax.config.jax_compilation_cache_dir,
                  "outcome": watch.outcome}))
"""


def _env(**values):
  env = {k: v for k, v in os.environ.items()
         if k not in ("JAX_COMPILATION_CACHE_DIR", "CNNJAX_COMPILATION_CACHE")}
  env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # cache tiny programs
  env.update(values)
  return env


def _probe(env):
  result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  return json.loads(result.stdout.strip().splitlines()[-1])


def _entries(path):
  return sorted(name for name in os.listdir(path) if name.endswith("-cache"))


def test_enabled_folder_receives_compiled_programs(tmp_path):
  folder = tmp_path / "xla"
  out = _probe(_env(CNNJAX_COMPILATION_CACHE=str(folder)))
  assert out == {"path": str(folder), "jax": str(folder), "outcome": "miss"}
  assert _entries(folder)
  again = _probe(_env(CNNJAX_COMPILATION_CACHE=str(folder)))
  assert again["outcome"] == "hit"


def test_off_leaves_jax_without_a_cache(tmp_path):
  out = _probe(_env(CNNJAX_COMPILATION_CACHE="off", HOME=str(tmp_path)))
  assert out == {"path": None, "jax": None, "outcome": "off"}
  assert not (tmp_path / ".cache").exists()


def test_default_folder_is_under_home(tmp_path):
  out = _probe(_env(HOME=str(tmp_path)))
  assert out["path"] == str(tmp_path / ".cache" / "cnnjax" / "xla")
  assert _entries(out["path"])


def test_jax_setting_wins(tmp_path):
  theirs = tmp_path / "theirs"
  out = _probe(_env(JAX_COMPILATION_CACHE_DIR=str(theirs),
                    CNNJAX_COMPILATION_CACHE=str(tmp_path / "ours")))
  assert out["path"] == out["jax"] == str(theirs)
  assert not (tmp_path / "ours").exists()


def test_unwritable_folder_only_turns_the_cache_off(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a folder")
  out = _probe(_env(CNNJAX_COMPILATION_CACHE=str(blocker / "xla")))
  assert out == {"path": None, "jax": None, "outcome": "off"}
  assert blocker.read_text() == "not a folder"


def test_cli_relaunch_hits_the_cache(tmp_path):
  """A second `cnnjax bench` of the same config compiles nothing new."""
  folder = tmp_path / "xla"
  env = _env(CNNJAX_COMPILATION_CACHE=str(folder))
  args = ("bench", "--config", "configs/mlp_gan.py:tiny", "--steps", "1")
  run = lambda: subprocess.run([sys.executable, "-m", "cnnjax.main", *args],
                               cwd=REPO, env=env, capture_output=True,
                               text=True, timeout=300)
  first = run()
  assert first.returncode == 0, first.stderr
  written = _entries(folder)
  assert written
  second = run()
  assert second.returncode == 0, second.stderr
  assert _entries(folder) == written


def test_fast_compile_options_only_when_asked():
  """$CNNJAX_FAST_COMPILE=1 (the tests set it) turns LLVM's optimisation
  off for train steps and initialisation; a program compiled with the
  options computes what the default compile does."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  from cnnjax.utils import compile_cache
  assert compile_cache.fast_options({}) is None
  assert compile_cache.fast_options({"CNNJAX_FAST_COMPILE": "0"}) is None
  fast = compile_cache.fast_options({"CNNJAX_FAST_COMPILE": "1"})
  assert fast == {"xla_backend_optimization_level": 0,
                  "xla_llvm_disable_expensive_passes": True}
  f = lambda x: jnp.tanh(x @ x.T).sum(0)
  x = jnp.linspace(-1, 1, 64 * 32).reshape(64, 32)
  np.testing.assert_allclose(jax.jit(f, compiler_options=fast)(x),
                             jax.jit(f)(x), rtol=1e-5)
