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
  $CNNJAX_FAST_COMPILE=1      train steps and initialisation compile with
                              XLA's LLVM optimisation off (`fast_options`):
                              for tests and debugging runs of tiny models.
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


FAST_ENV = "CNNJAX_FAST_COMPILE"
# LLVM's optimisation is most of XLA:CPU's compile time for a train step
# (fusion, layout and sharding passes still run): a tiny cGAN step compiled
# in 17 s instead of 30 s with these, its steps no slower (2 CPU cores).
# Only for programs that run a few times: a 200-step inversion scan ran
# over 10x slower when everything was compiled this way, so inversion,
# stylize and sampling never take them.
FAST_OPTIONS = {"xla_backend_optimization_level": 0,
                "xla_llvm_disable_expensive_passes": True}


def fast_options(environ=None) -> dict | None:
  """The jit `compiler_options` of train steps and initialisation: the fast
  ones with $CNNJAX_FAST_COMPILE=1, else None (XLA's defaults)."""
  value = (os.environ if environ is None else environ).get(FAST_ENV, "")
  return dict(FAST_OPTIONS) if value.lower() in ("1", "true", "yes") else None


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


class Watch:
  """Whether the XLA compilations inside a `with Watch() as watch:` block
  were loaded from the persistent cache, from JAX's monitoring events.

  `outcome`: "hit" (every compilation that could use the cache was loaded
  from it), "miss" (one at least was compiled; JAX stores it when it took
  longer than $JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS, 1 s by default),
  "off" (no cache folder, or nothing compiled).
  """
  REQUEST = "/jax/compilation_cache/compile_requests_use_cache"
  HIT = "/jax/compilation_cache/cache_hits"

  def __init__(self):
    self.requests = self.hits = 0

  def _listen(self, event: str, **_) -> None:
    if event == self.REQUEST:
      self.requests += 1
    elif event == self.HIT:
      self.hits += 1

  def __enter__(self) -> "Watch":
    jax.monitoring.register_event_listener(self._listen)
    return self

  def __exit__(self, *_) -> None:
    jax.monitoring.unregister_event_listener(self._listen)

  @property
  def outcome(self) -> str:
    # JAX counts a request whenever its cache is enabled, folder or not.
    if not self.requests or not jax.config.jax_compilation_cache_dir:
      return "off"
    return "hit" if self.hits == self.requests else "miss"
