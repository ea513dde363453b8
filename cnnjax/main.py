"""The `cnnjax` command: parses flags and dispatches to library functions.

  cnnjax train   --config FILE[:ARG] --workdir DIR [--config.a.b=v ...] [--allow_config_change]
  cnnjax sample  --workdir DIR --num N --out FILE.png [--seed S] [--step K] [--class C] [--overwrite]
  cnnjax eval    --workdir DIR [--extractor NAME] [--num_samples N] [--step K|best]
  cnnjax inspect --workdir DIR [--step K|best]
  cnnjax bench   --config FILE[:ARG] [--steps N] [--batch B] [--pipeline]
"""

import logging as std_logging
import os
import sys

# Quieter start-up: TensorFlow-free TFDS still probes for TF, and XLA warns.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from cnnjax.errors import UserError  # noqa: E402

COMMANDS = ("train", "sample", "eval", "inspect", "bench")
USAGE = __doc__

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Config file and argument, e.g. configs/dcgan.py:tiny.",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (config, logs, checkpoints).")
flags.DEFINE_bool("multihost", False,
                  "Start JAX's multi-process runtime first (one process per "
                  "host; SLURM/Open MPI are detected, or set "
                  "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID).")
flags.DEFINE_bool("allow_config_change", False,
                  "Resume a workdir even though its config differs.")
flags.DEFINE_integer("num", 64, "sample: how many images.")
flags.DEFINE_string("out", None, "sample: the PNG file to write.")
flags.DEFINE_integer("seed", 0, "sample: seed of the latents.")
flags.DEFINE_string("step", None, "sample/eval/inspect: checkpoint step, or "
                    "'best' (lowest FID during training); default: newest.")
flags.DEFINE_string("extractor", None, "eval: feature network, e.g. classifier, "
                    "classifier:<workdir>, inception_v3[:<weights.npz>] "
                    "(default: the run's eval.extractor).")
flags.DEFINE_integer("num_samples", None, "eval: generated images (default: "
                     "the run's eval.num_samples).")
flags.DEFINE_bool("overwrite", False, "sample: replace an existing --out file.")
flags.DEFINE_integer("steps", 20, "bench: timed steps (after warm-up).")
flags.DEFINE_integer("batch", None, "bench: global batch size (default: the config's).")
flags.DEFINE_bool("pipeline", False, "bench: time the input pipeline alone.")
flags.DEFINE_integer("class", None, "sample: draw this class (conditional "
                     "models); without it, one row per class.")


def _fail(message: str, code: int = 2):
  print(f"cnnjax: error: {message}", file=sys.stderr, flush=True)
  sys.exit(code)


def _parse(argv: list[str]) -> list[str]:
  """absl parsing with exit code 2 and one message for any flag error."""
  try:
    remaining = FLAGS(argv)
    if FLAGS.config is not None:
      # A config file that failed to load is a placeholder that raises on
      # first use; use it here, where the error is turned into a message.
      FLAGS.config.keys()
    return remaining
  except flags.Error as error:
    _fail(f"{error}\n{USAGE}")
  except UserError as error:  # raised by a config file's get_config
    _fail(str(error))
  except (AttributeError, KeyError) as error:  # --config.a.b of no field
    key, _, hint = _innermost_message(error).partition("\n")
    _fail(f"no such config field {key}" + (f" ({hint.strip()})" if hint else "")
          + ". Fields are named as in the config file and "
          "cnnjax/tasks/<task>/config.py, e.g. "
          "--config.model.generator.base_width=32.")
  except Exception as error:  # a config file that does not load
    _fail(f"the config could not be loaded: {type(error).__name__}: {error}")


def _innermost_message(error: BaseException) -> str:
  """The text of an error that wraps others (ml_collections raises an
  AttributeError around a KeyError around the message)."""
  while error.args and isinstance(error.args[0], BaseException):
    error = error.args[0]
  return error.args[0] if error.args and isinstance(error.args[0], str) \
      else str(error)


def _require(name: str) -> str:
  value = getattr(FLAGS, name)
  if value is None:
    _fail(f"--{name} is required.\n{USAGE}")
  return value


def _step():
  from cnnjax import workdir
  return workdir.parse_step(FLAGS.step)


def _quiet_libraries() -> None:
  """cnnjax's own INFO lines, but only warnings from orbax, grain and JAX
  (which log through absl); `--verbosity=0` brings all of them back."""
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  std_logging.getLogger("cnnjax").setLevel(std_logging.INFO)


def main(argv: list[str]) -> None:
  _quiet_libraries()
  if len(argv) != 2 or argv[1] not in COMMANDS:
    _fail(f"expected one command of {', '.join(COMMANDS)}; got "
          f"{' '.join(argv[1:]) or 'none'}.\n{USAGE}")
  command = argv[1]
  from cnnjax.utils import compile_cache
  compile_cache.enable()
  try:
    if FLAGS.multihost:
      from cnnjax.utils import distributed
      distributed.initialize()
    if command == "bench":
      _bench()
      return
    workdir = _require("workdir")
    if command == "train":
      if FLAGS.config is None:
        _fail("--config is required for train, e.g. "
              "--config=configs/dcgan.py:fashion_mnist.")
      _train(workdir)
    elif command == "sample":
      from cnnjax import commands
      result = commands.sample(workdir, FLAGS.num, _require("out"),
                               seed=FLAGS.seed, step=_step(),
                               overwrite=FLAGS.overwrite,
                               class_label=FLAGS["class"].value)
      print(f"Wrote {result['num']} samples of step {result['step']} "
            f"({'EMA' if result['ema'] else 'raw'} generator) to "
            f"{result['out']}", flush=True)
    elif command == "eval":
      from cnnjax import commands
      commands.print_json(commands.evaluate(
          workdir, _step(), extractor=FLAGS.extractor,
          num_samples=FLAGS.num_samples))
    elif command == "inspect":
      from cnnjax import commands
      commands.print_json(commands.inspect(workdir, _step()))
  except UserError as error:
    _fail(str(error), error.exit_code)
  except OSError as error:  # a workdir that is a file, unwritable, full disk
    where = f" {error.filename}" if error.filename else ""
    _fail(f"cannot use{where}: {error.strerror or error}. Check the path, "
          "its permissions and free space.")


def _bench() -> None:
  from cnnjax import bench, commands
  config = FLAGS.config
  if config is None:
    _fail("--config is required for bench, e.g. "
          "--config=configs/dcgan.py:fashion_mnist.")
  if FLAGS.batch is not None:
    config.train.batch_size = FLAGS.batch
  if FLAGS.pipeline:
    commands.print_json(bench.bench_pipeline(config))
  else:
    commands.print_json(bench.bench_step(config, steps=FLAGS.steps))


def _train(workdir: str) -> None:
  from cnnjax.train import loop
  result = loop.train_and_evaluate(
      FLAGS.config, workdir, allow_config_change=FLAGS.allow_config_change)
  if result["interrupted"]:
    print(f"Stopped on {result['interrupted']} at step {result['step']}; "
          f"the checkpoint is saved. Run the same command to resume.",
          flush=True)
  else:
    print(result["summary"], flush=True)


def _quiet_closed_event_loops(unraisable) -> None:
  """After a failed checkpoint read, TensorStore's threads still post
  results to orbax's closed asyncio loop, and Python prints each refusal
  as a traceback (dozens of lines after one clear error). Only those."""
  if (isinstance(unraisable.exc_value, RuntimeError) and
      str(unraisable.exc_value) == "Event loop is closed"):
    return
  sys.__unraisablehook__(unraisable)


def run():
  """Console-script entry point."""
  sys.unraisablehook = _quiet_closed_event_loops
  app.run(main, flags_parser=_parse)


if __name__ == "__main__":
  run()
