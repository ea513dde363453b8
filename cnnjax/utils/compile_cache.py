"""JAX's persistent compilation cache, on for every `cnnjax` command.

XLA compiles a ResNet family's train step in 5-14 s on a 2-core CPU, and a
researcher pays that on every launch, every resume after a preemption and
every `eval`. JAX can keep compiled executables on disk, keyed by the
program, its shapes and shardings, the devices, XLA flags and the jax/jaxlib
versions, so a relaunch of the same program loads it instead (tracing and
lowering still run). A stale entry cannot be hit: any change to the model,
config or library versions changes the key.

  $CNNJAX_COMPILATION_CACHE   the folder; default ~/.cache/cnnjax/xla;
                              "off" turns the cache off.
  $JAX_COMPILATION_CACHE_DIR  JAX's own setting; when set, it wins.
"""

import logging
import os

import jax

log = logging.getLogger(__name__)

ENV = "CNNJAX_COMPILATION_CACHE"
OFF = ("off", "0", "false", "none")
# Least recently used entries are dropped beyond this size (JAX's default is
# no limit). JAX only writes programs that took over a second to compile
# ($JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS), so the many small ones
# (initialisation, metric reductions) cost no disk.
MAX_BYTES = 4 << 30


def default_dir() -> str:
  return os.path.join(os.path.expanduser("~"), ".cache", "cnnjax", "xla")


def enable(environ=None) -> str | None:
  """Turns the persistent cache on; returns its folder, or None when off.

  A folder that cannot be created only costs the cache (with a warning): it
  never stops a run.
  """
  environ = os.environ if environ is None else environ
  if jax.config.jax_compilation_cache_dir:  # the user's JAX setting
    return jax.config.jax_compilation_cache_dir
  value = environ.get(ENV, "").strip()
  if value.lower() in OFF:
    return None
  path = os.path.abspath(os.path.expanduser(value or default_dir()))
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as error:
    log.warning("Compilation cache off: cannot create %s (%s); set $%s to a "
                "writable folder or to 'off'.", path, error.strerror, ENV)
    return None
  jax.config.update("jax_compilation_cache_dir", path)
  if "JAX_COMPILATION_CACHE_MAX_SIZE" not in environ:
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
  return path
