"""The `cnnjax` command: parses flags and dispatches to library functions.

`cnnjax --help` lists the commands, `cnnjax COMMAND --help` their flags
(the table is cnnjax/cli.py).
"""

import json
import logging as std_logging
import os
import signal
import sys

# Quieter start-up: TensorFlow-free TFDS still probes for TF, and XLA warns.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from cnnjax import cli  # noqa: E402
from cnnjax.errors import UserError  # noqa: E402

FLAGS = flags.FLAGS
STYLIZE_STEPS = 300
config_flags.DEFINE_config_file(
    "config", None, "Config file and argument, e.g. configs/dcgan.py:tiny.",
    lock_config=True)
flags.DEFINE_string("workdir", None,
                    "The run's directory (config, logs, checkpoints).")
flags.DEFINE_bool("multihost", False,
                  "Start JAX's multi-process runtime first (one process per "
                  "host; SLURM/Open MPI are detected, or set "
                  "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID).")
flags.DEFINE_bool("allow_config_change", False,
                  "Resume a workdir even though its config differs.")
flags.DEFINE_integer("num", 64, "How many images.")
flags.DEFINE_string("out", None, "The PNG file to write (invert: the "
                    "folder; stylize: a folder for several --content "
                    "images; enhance: a PNG/JPEG file, or a folder for a "
                    "folder --in).")
flags.DEFINE_integer("seed", 0, "Seed of the latents (stylize: of the noise "
                     "that --init=noise starts from).")
flags.DEFINE_string("step", None, "The checkpoint's step, or 'best' (runs "
                    "that evaluated FID during training: the lowest); "
                    "default: the newest. compare: the runs as they were "
                    "at this step (their evaluations up to it).")
flags.DEFINE_string("extractor", None, "Feature network: classifier, "
                    "classifier:<workdir>, inception_v3[:<weights.npz>] "
                    "(default: the run's eval.extractor).")
flags.DEFINE_integer("num_samples", None, "Generated images (default: the "
                     "run's eval.num_samples).")
flags.DEFINE_bool("overwrite", False, "Replace an existing --out file.")
flags.DEFINE_integer("steps", 20, "bench: timed steps (after warm-up); "
                     "invert: optimisation steps (default 200 for optimize, "
                     "50 for hybrid); edit: steps of counterfactual and "
                     "inpaint (default 200); stylize: steps at each scale "
                     f"(default {STYLIZE_STEPS}).")
flags.DEFINE_integer("batch", None,
                     "Global batch size (default: the config's).")
flags.DEFINE_bool("pipeline", False, "Time the input pipeline alone.")
flags.DEFINE_integer("class", None, "Draw this class (conditional models); "
                     "without it, one row per class.")
flags.DEFINE_string("truncation", "1", "sample: truncation psi toward the "
                    "average w (StyleGAN2; 1 = none, 0 = the average image); "
                    "several, comma-separated (1,0.7,0.5): one row each, "
                    "the same latents.")
flags.DEFINE_string("space", None, "invert: the latent space, z, w or w+ "
                    "(w and w+: StyleGAN2; default w there, else z).")
flags.DEFINE_string("noise_mode", None, "sample: StyleGAN2's noise: random "
                    "(the default; fixed per latent), const or none.")
flags.DEFINE_integer("style_mix", None, "sample: write StyleGAN2's style-"
                     "mixing grid instead, rows' styles on layers below this "
                     "one, columns' from it on (min(--num, 8) of each).")
flags.DEFINE_bool("json", False, "Print the config as JSON (default: as "
                  "YAML-like text).")
flags.DEFINE_string("root", None, "Folder of sweeps: a sweep's runs go to "
                    "ROOT/<sweep name>/<run name>.")
flags.DEFINE_string("backend", "local", "Where runs go: local (this "
                    "machine) or slurm (submitit job array).")
flags.DEFINE_integer("parallel", 1, "Local runs at once; each gets an equal "
                     "share of the devices.")
flags.DEFINE_bool("status", False, "Print each run's state and progress; "
                  "launch nothing.")
flags.DEFINE_bool("dry_run", False, "Print each run's command, parameters, "
                  "FLOPs per step and memory per device; train nothing.")
flags.DEFINE_string("sort", None, "Sort the runs by this column (e.g. "
                    "fid, best_fid, test_accuracy), lowest first.")
flags.DEFINE_string("fields", None, "Config columns, comma-separated "
                    "(default: every field in which the runs differ; "
                    "--fields= for none).")
flags.DEFINE_string("format", "text", "text, csv or json (one object per "
                    "run).")
flags.DEFINE_string("plot", None, "Also write a PNG of --metric for every "
                    "run.")
flags.DEFINE_string("metric", "fid", "The metric --plot draws.")
flags.DEFINE_string("mean_over", None, "compare: fold runs that differ "
                    "only in these config fields (comma-separated, e.g. "
                    "train.seed) into one row of means and standard "
                    "deviations.")
flags.DEFINE_string("against", "step", "--plot's x axis: step or images "
                    "(real images seen: step x batch size x n_critic).")
flags.DEFINE_string("images", None, "Images to invert: a PNG/JPEG file, a "
                    "folder of them, or dataset:<name>:<split>[:N].")
flags.DEFINE_string("in", None, "enhance: a PNG/JPEG file, or a folder of "
                    "them (subfolders too).")
flags.DEFINE_string("method", "hybrid", "Inversion: encoder, optimize or "
                    "hybrid (encoder start, then optimisation); stylize: "
                    "gatys (default) or adain (a trained decoder: --workdir "
                    "of a configs/adain.py run).")
flags.DEFINE_string("encoder", None, "An encoder run (configs/encoder.py) "
                    "for --method encoder or hybrid.")
flags.DEFINE_string("latents", None, "The latents.npz `cnnjax invert` "
                    "wrote.")
flags.DEFINE_string("op", None, "The edit: interpolate, direction, "
                    "arithmetic, sefa, pca, counterfactual or inpaint.")
flags.DEFINE_integer("target", None, "The class an edit aims at (direction, "
                     "arithmetic, counterfactual).")
flags.DEFINE_integer("component", 0, "sefa/pca: which direction (0 = the "
                     "strongest).")
flags.DEFINE_string("strengths", None, "Comma-separated steps along a "
                    "direction (defaults per op, e.g. -6,-3,0,3,6 for sefa).")
flags.DEFINE_integer("frames", 8, "interpolate: images from each image to "
                     "the next.")
flags.DEFINE_string("interpolation", None, "interpolate: slerp or lerp "
                    "(default: slerp in z, lerp in w and w+, as StyleGAN's "
                    "path lengths).")
flags.DEFINE_string("mask", None, "inpaint: the region to fill: "
                    "rect:X0,Y0,X1,Y1, center:S, or a PNG (white = fill); "
                    "stylize: PNG(s) of the content's size, white where the "
                    "style applies (one, or one per style, comma-separated); "
                    "outside every mask the content is kept.")
flags.DEFINE_float("distance_weight", 1.0, "counterfactual: weight of the "
                   "latent's distance to the original.")
flags.DEFINE_integer("bridge_points", 16, "counterfactual: images the "
                     "gradient steps leave short of the target take the "
                     "first of this many points on the slerp toward the "
                     "nearest generated image of the target class that the "
                     "classifier puts there (0: none).")
flags.DEFINE_integer("rows", 8, "edit: how many of the latents to edit "
                     "(the grid shows the first 16; the metrics cover all).")
flags.DEFINE_string("content", None, "stylize: the content image "
                    "(PNG/JPEG), or several of one size, comma-separated.")
flags.DEFINE_string("style", None, "stylize: the style image(s), "
                    "comma-separated.")
flags.DEFINE_string("style_weights", None, "stylize: relative weights of "
                    "the style images, comma-separated (default: equal).")
flags.DEFINE_integer("size", 512, "stylize: the content's longer side in "
                     "pixels (the style images are resized to it too).")
flags.DEFINE_string("vgg", None, "stylize: a converted VGG-19 .npz (or a "
                    "spec such as vgg19:random:3); default: the converted "
                    "file at its default path if there is one, else "
                    "vgg19:random:0 (random weights).")
flags.DEFINE_float("content_weight", 1.0, "stylize: weight of the content "
                   "loss.")
flags.DEFINE_float("style_weight", 1e6, "stylize: weight of the style loss.")
flags.DEFINE_float("tv_weight", 0.0, "stylize: weight of the total "
                   "variation loss.")
flags.DEFINE_string("optimizer", "adam", "stylize: adam or lbfgs.")
flags.DEFINE_float("lr", 0.05, "stylize: Adam's learning rate, in pixel "
                   "units of [-1, 1] images.")
flags.DEFINE_integer("scales", 1, "stylize: coarse-to-fine scales, each half "
                     "the next (1: the full size only).")
flags.DEFINE_float("alpha", 1.0, "stylize --method adain: the content-style "
                   "trade-off in [0, 1] (1: all style, 0: the content).")
flags.DEFINE_bool("preserve_color", False, "stylize: transfer the style to "
                  "the luminance only and keep the content's colours.")
flags.DEFINE_string("layers", "gatys", "stylize: where content and style "
                    "are measured: gatys (relu4_2; relu1_1 ... relu5_1) or "
                    "tutorial (PyTorch's tutorial: conv2_2; conv1_1, "
                    "conv1_2, conv2_1, conv2_2, conv3_1).")
flags.DEFINE_string("gram_norm", "tutorial", "stylize: style loss "
                    "normalisation: tutorial (Grams / (C·H·W), mean squared "
                    "error) or paper (Gatys et al.'s 1 / (4 N² M²)).")
flags.DEFINE_string("init", "content", "stylize: start from the content "
                    "image or from noise.")
flags.DEFINE_string("slurm_partition", "", "SLURM partition (default: the "
                    "cluster's).")
flags.DEFINE_integer("gpus_per_run", 1, "SLURM: GPUs per node of each run.")
flags.DEFINE_integer("nodes_per_run", 1, "SLURM: nodes of each run (more "
                     "than 1: JAX's distributed runtime).")
flags.DEFINE_integer("timeout_min", 240, "SLURM: a job's time limit; a run "
                     "that needs longer is requeued and resumes.")


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
    _fail(cli.flag_error(str(error)))
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


def _require(command: str) -> None:
  for name in cli.REQUIRED[command]:
    if FLAGS[name].value is None:
      example = {"config": "e.g. --config=configs/dcgan.py:fashion_mnist",
                 "workdir": "the run's directory",
                 "out": ("the folder to write" if command == "invert" else
                         "the file to write, or a folder for a folder --in"
                         if command == "enhance" else
                         "the PNG file to write"),
                 "in": "a PNG/JPEG file or a folder of them",
                 "root": "the folder of sweeps, e.g. runs/sweeps",
                 "images": "a PNG/JPEG file, a folder of them, or "
                           "dataset:<name>:<split>[:N]",
                 "latents": "the DIR/latents.npz of `cnnjax invert`",
                 "op": "one of interpolate, direction, arithmetic, sefa, "
                       "pca, counterfactual, inpaint",
                 "content": "the PNG/JPEG image to stylise",
                 "style": "the style image(s), comma-separated"}[name]
      _fail(f"--{name} is required for {command} ({example}); "
            f"`cnnjax {command} --help` lists its flags.")


def _floats(name: str) -> list[float]:
  """A flag of comma-separated numbers."""
  try:
    return [float(v) for v in FLAGS[name].value.split(",") if v.strip()]
  except ValueError:
    raise UserError(f"--{name}={FLAGS[name].value!r}: give numbers, "
                    "comma-separated (e.g. 1,0.7,0.5).") from None


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
  if len(argv) < 2 or argv[1] not in cli.COMMANDS:
    _fail(f"expected one command of {', '.join(cli.COMMANDS)}; got "
          f"{' '.join(argv[1:]) or 'none'}. `cnnjax --help` describes them.")
  command, positional = argv[1], argv[2:]
  what, least, most = cli.POSITIONAL.get(command, ("", 0, 0))
  if len(positional) < least or (most is not None and len(positional) > most):
    _fail(f"cnnjax {command} takes {what or 'no positional argument'}; "
          f"got {' '.join(positional) or 'none'}. "
          f"`cnnjax {command} --help` lists its flags.")
  _require(command)
  from cnnjax.utils import compile_cache
  compile_cache.enable()
  try:
    if FLAGS.multihost:
      from cnnjax.utils import distributed
      distributed.initialize()
    if command == "bench":
      _bench()
      return
    if command == "config":
      _config()
      return
    if command == "compare":
      from cnnjax import compare
      fields = (None if FLAGS.fields is None else
                [f for f in FLAGS.fields.split(",") if f])
      mean_over = [f for f in (FLAGS.mean_over or "").split(",") if f]
      columns, rows = compare.compare(positional, FLAGS.sort, fields,
                                      _step(), mean_over)
      print(compare.render(columns, rows, FLAGS.format), flush=True)
      if FLAGS.plot:
        path = compare.plot(positional, FLAGS.plot, FLAGS.metric,
                            FLAGS.against)
        print(f"Wrote {path}", file=sys.stderr, flush=True)
      return
    if command == "sweep":
      from cnnjax.launch import sweep
      sys.exit(sweep.main(
          positional[0], FLAGS.root, backend=FLAGS.backend,
          parallel=FLAGS.parallel, show_status=FLAGS.status,
          dry_run=FLAGS.dry_run,
          slurm={"partition": FLAGS.slurm_partition,
                 "gpus_per_run": FLAGS.gpus_per_run,
                 "nodes_per_run": FLAGS.nodes_per_run,
                 "timeout_min": FLAGS.timeout_min}))
    workdir = FLAGS.workdir
    if command == "train":
      _train(workdir)
    elif command == "sample":
      from cnnjax import commands
      result = commands.sample(workdir, FLAGS.num, FLAGS.out,
                               seed=FLAGS.seed, step=_step(),
                               overwrite=FLAGS.overwrite,
                               class_label=FLAGS["class"].value,
                               truncation=_floats("truncation"),
                               noise_mode=FLAGS.noise_mode,
                               style_mix=FLAGS.style_mix)
      print(f"Wrote {result['num']} samples of step {result['step']} "
            f"({'EMA' if result['ema'] else 'raw'} generator) to "
            f"{result['out']}", flush=True)
    elif command == "eval":
      from cnnjax import commands
      commands.print_json(commands.evaluate(
          workdir, _step(), extractor=FLAGS.extractor,
          num_samples=FLAGS.num_samples))
    elif command == "invert":
      from cnnjax import commands
      from cnnjax.editing import commands as editing
      commands.print_json(editing.invert_images(
          workdir, FLAGS.images, FLAGS.out, method=FLAGS.method,
          encoder=FLAGS.encoder,
          steps=FLAGS.steps if FLAGS["steps"].present else None,
          overwrite=FLAGS.overwrite, step=_step(), space=FLAGS.space))
    elif command == "edit":
      from cnnjax import commands
      from cnnjax.editing import edit_command
      commands.print_json(edit_command.edit(
          workdir, FLAGS.latents, FLAGS.op, FLAGS.out, target=FLAGS.target,
          component=FLAGS.component, strengths=FLAGS.strengths,
          frames=FLAGS.frames, interpolation=FLAGS.interpolation,
          mask=FLAGS.mask,
          steps=FLAGS.steps if FLAGS["steps"].present else 200,
          distance_weight=FLAGS.distance_weight,
          bridge_points=FLAGS.bridge_points, rows=FLAGS.rows,
          overwrite=FLAGS.overwrite, step=_step()))
    elif command == "stylize":
      _stylize()
    elif command == "enhance":
      from cnnjax import commands
      from cnnjax.editing import enhance_command
      commands.print_json(enhance_command.enhance_images(
          workdir, FLAGS["in"].value, FLAGS.out, overwrite=FLAGS.overwrite,
          step=_step()))
    elif command == "inspect":
      from cnnjax import commands
      commands.print_json(commands.inspect(workdir, _step()))
  except UserError as error:
    _fail(str(error), error.exit_code)
  except MemoryError as error:
    _fail(_out_of_memory(error))
  except BrokenPipeError:  # `cnnjax compare ... | head`: the reader left
    _quiet_broken_pipe()
    sys.exit(0)
  except OSError as error:  # a workdir that is a file, unwritable, full disk
    where = f" {error.filename}" if error.filename else ""
    _fail(f"cannot use{where}: {error.strerror or error}. Check the path, "
          "its permissions and free space.")
  except Exception as error:  # an XLA runtime error: out of memory?
    if "RESOURCE_EXHAUSTED" not in str(error) and (
        "Out of memory" not in str(error)):
      raise
    _fail(_out_of_memory(error))


def _quiet_broken_pipe() -> None:
  """Points stdout at /dev/null, so that Python's flush at exit does not
  print a second BrokenPipeError once the reader of a pipe has left."""
  os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _exit_on_signal(signum, frame):
  """SIGTERM or SIGINT outside the train loop's steps (whose own guard
  saves and exits 0): one line and the conventional exit code, at once. An
  exception raised here could land in a callback of JAX's and be swallowed,
  and the run would go on."""
  del frame
  name = signal.Signals(signum).name
  print(f"cnnjax: stopped by {name} while starting up or finishing (no "
        "training step was cut short); run the same command to go on.",
        file=sys.stderr, flush=True)
  os._exit(128 + signum)


def _out_of_memory(error: BaseException) -> str:
  first = (str(error).strip().splitlines() or [""])[0][:200]
  return (f"out of memory ({first}). What one step holds is set by "
          "train.batch_size, data.resolution and the networks' sizes "
          "(model.<role>.base_width, latent_dim, ...): lower them, or spread "
          "the batch over more devices; nothing in the workdir was changed "
          "if this happened before the first step.")


def _config() -> None:
  """Prints the resolved config after checking it as train would."""
  import jax
  from cnnjax import config as config_lib
  from cnnjax import tasks
  config = FLAGS.config
  tasks.get(config.get("task", "")).validate(config, jax.device_count())
  if FLAGS.json:
    print(json.dumps(config_lib.to_dict(config), indent=2, sort_keys=True))
  else:
    print(config, end="", flush=True)


def _bench() -> None:
  from cnnjax import bench, commands
  if FLAGS.steps < 1:
    _fail(f"--steps={FLAGS.steps}: bench times at least 1 step.")
  config = FLAGS.config
  if FLAGS.batch is not None:
    config.train.batch_size = FLAGS.batch
  if FLAGS.pipeline:
    commands.print_json(bench.bench_pipeline(config))
  else:
    commands.print_json(bench.bench_step(config, steps=FLAGS.steps))


def _stylize() -> None:
  from cnnjax import commands
  from cnnjax.editing import style, style_command, style_losses
  if FLAGS["method"].present and FLAGS.method == "adain":
    from cnnjax.editing import adain_command
    commands.print_json(adain_command.stylize_images(
        FLAGS.content, FLAGS.style, FLAGS.out, workdir=FLAGS.workdir,
        size=FLAGS.size, vgg=FLAGS.vgg, style_weights=FLAGS.style_weights,
        mask=FLAGS.mask, alpha=FLAGS.alpha,
        preserve_color=FLAGS.preserve_color, step=_step(),
        overwrite=FLAGS.overwrite))
    return
  if FLAGS.layers not in style_losses.LAYER_PRESETS:
    _fail(f"--layers {FLAGS.layers!r}: use one of "
          f"{', '.join(style_losses.LAYER_PRESETS)}.")
  content_layers, style_layers = style_losses.LAYER_PRESETS[FLAGS.layers]
  settings = style.Settings(
      content_layers=content_layers, style_layers=style_layers,
      gram_norm=FLAGS.gram_norm, content_weight=FLAGS.content_weight,
      style_weight=FLAGS.style_weight, tv_weight=FLAGS.tv_weight,
      optimizer=FLAGS.optimizer,
      steps=FLAGS.steps if FLAGS["steps"].present else STYLIZE_STEPS,
      learning_rate=FLAGS.lr, scales=FLAGS.scales,
      preserve_color=FLAGS.preserve_color, init=FLAGS.init)
  commands.print_json(style_command.stylize_images(
      FLAGS.content, FLAGS.style, FLAGS.out,
      method=FLAGS.method if FLAGS["method"].present else "gatys",
      workdir=FLAGS.workdir, size=FLAGS.size, vgg=FLAGS.vgg,
      style_weights=FLAGS.style_weights, mask=FLAGS.mask, settings=settings,
      seed=FLAGS.seed, overwrite=FLAGS.overwrite))


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
  # Outside the train loop's guard: a clear message, exit 143 or 130.
  for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, _exit_on_signal)
  wants_help, command = cli.help_request(sys.argv)
  if wants_help:
    try:
      print(cli.usage(FLAGS, command), flush=True)
    except BrokenPipeError:  # `cnnjax sweep --help | head`
      _quiet_broken_pipe()
    sys.exit(0)
  app.run(main, flags_parser=_parse)


if __name__ == "__main__":
  run()
