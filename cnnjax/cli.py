"""What the `cnnjax` command says about itself: its commands and their
flags (`--help`), and flag errors as one line naming the fix.

Kept apart from main.py's dispatch so that the help is data, and tests can
check that every command's flags are defined and described.
"""

import re

# command -> (what it does, its flags in the order --help lists them)
COMMANDS = {
    "train": ("Train a run, or resume the one in --workdir (see README: The "
              "workdir).",
              ("config", "workdir", "allow_config_change", "multihost")),
    "sample": ("Write a grid of samples of a run's checkpoint.",
               ("workdir", "out", "num", "seed", "step", "class",
                "truncation", "noise_mode", "style_mix", "overwrite")),
    "eval": ("Print (and append to metrics.jsonl) the sample-quality metrics "
             "of a checkpoint, or a classifier's test accuracy.",
             ("workdir", "step", "extractor", "num_samples")),
    "inspect": ("Print a checkpoint's step, size, digests and the workdir's "
                "checkpoints (it verifies the checkpoint).",
                ("workdir", "step")),
    "bench": ("Time a config's train step (or its input pipeline) and print "
              "one JSON line.", ("config", "steps", "batch", "pipeline")),
    "config": ("Print a config file's resolved fields (after --config.a.b=v "
               "overrides), checked as train would check them.",
               ("config", "json")),
    "sweep": ("Launch the runs of a sweep file (skipping finished ones, "
              "resuming the rest), or show their --status, or --dry_run "
              "them: cnnjax sweep SWEEP_FILE[:ARG] --root DIR.",
              ("root", "backend", "parallel", "status", "dry_run",
               "slurm_partition", "gpus_per_run", "nodes_per_run",
               "timeout_min")),
    "invert": ("Invert real images into a GAN run's latent space (encoder, "
               "optimize or hybrid); write DIR/latents.npz and "
               "DIR/reconstruction.png and print the reconstruction "
               "metrics.",
               ("workdir", "images", "out", "method", "encoder", "space",
                "steps", "step", "overwrite")),
    "edit": ("Edit inverted images (interpolate, direction, arithmetic, "
             "sefa, pca, counterfactual, inpaint); write the grid GRID.png "
             "(original | reconstruction | edits) and GRID.npz.",
             ("workdir", "latents", "op", "out", "target", "component",
              "strengths", "frames", "interpolation", "mask", "steps",
              "distance_weight", "bridge_points", "rows", "step",
              "overwrite")),
    "compare": ("Print one table of runs (differing config fields, final "
                "and best metrics, steps, speed) from their workdirs, and "
                "optionally --plot a metric: cnnjax compare DIR...",
                ("sort", "fields", "step", "mean_over", "format", "plot", "metric",
                 "against")),
    "stylize": ("Gatys style transfer of a content image onto the style of "
                "others (VGG-19; random weights when no converted file "
                "exists), or AdaIN with a trained decoder (--method adain "
                "--workdir RUN); write OUT.png and print one JSON line of "
                "losses and seconds.",
                ("content", "style", "out", "method", "workdir", "size",
                 "steps", "vgg", "style_weights", "mask", "content_weight",
                 "style_weight", "tv_weight", "optimizer", "lr", "scales",
                 "preserve_color", "alpha", "step", "layers", "gram_norm",
                 "init", "seed", "overwrite")),
    "enhance": ("Automatic colour and contrast with an enhance run: --in "
                "IMG|DIR to --out PATH (a folder for a folder, same file "
                "names), any size; print one JSON line of each image's "
                "adjustment parameters and seconds.",
                ("workdir", "in", "out", "step", "overwrite")),
}
REQUIRED = {"train": ("config", "workdir"), "sample": ("workdir", "out"),
            "eval": ("workdir",), "inspect": ("workdir",),
            "bench": ("config",), "config": ("config",), "sweep": ("root",),
            "compare": (), "invert": ("workdir", "images", "out"),
            "edit": ("workdir", "latents", "op", "out"),
            "stylize": ("content", "style", "out"),
            "enhance": ("workdir", "in", "out")}
# Commands that take positional arguments: (what they are, how many at
# least, at most or None).
POSITIONAL = {"sweep": ("SWEEP_FILE[:ARG]", 1, 1),
              "compare": ("DIR...", 1, None)}
HELP_FLAGS = ("-h", "--help", "help", "-help")


def usage(flag_values, command: str | None = None) -> str:
  """The help of one command, or of them all."""
  if command is None:
    lines = ["usage: cnnjax COMMAND [flags]   (cnnjax COMMAND --help lists its "
             "flags)", "", "commands:"]
    lines += [f"  {name:8} {summary}" for name, (summary, _) in
              COMMANDS.items()]
    lines += ["", "Every config field can be set as --config.SECTION.FIELD="
              "VALUE; `cnnjax config --config FILE` lists them."]
    return "\n".join(lines)
  summary, names = COMMANDS[command]
  required = REQUIRED[command]
  positional = POSITIONAL.get(command, ("",))[0]
  lines = [f"usage: cnnjax {command} " + (positional + " " if positional
                                          else "") + " ".join(
      f"--{n}=..." if n in required else f"[--{n}]" for n in names), "",
           summary, "", "flags:"]
  for name in names:
    default = flag_values[name].default
    note = (" (required)" if name in required else
            f" (default: {default})" if default not in (None, False) else "")
    lines.append(f"  --{name:20} {flag_values[name].help}{note}")
  if "config" in names:
    lines.append("  --config.SECTION.FIELD=VALUE  override a field of the "
                 "config (`cnnjax config --config FILE` lists them)")
  return "\n".join(lines)


def help_request(argv: list[str]) -> tuple[bool, str | None]:
  """Whether argv asks for help, and for which command (None: all)."""
  if not any(arg in HELP_FLAGS for arg in argv[1:]):
    return False, None
  named = [arg for arg in argv[1:] if arg in COMMANDS]
  return True, (named[0] if named else None)


_TYPES = (("for int()", "an integer"), ("to float", "a number"),
          ("boolean", "true or false"))


def flag_error(message: str) -> str:
  """An absl/ml_collections flag error as one line naming the fix."""
  unknown = re.match(r"Unknown command line flag '([^']+)'", message)
  if unknown:
    name = unknown.group(1)
    if "." in name and not name.startswith("config."):
      return (f"unknown flag --{name}; config fields take the --config. "
              f"prefix: --config.{name}=...")
    return f"unknown flag --{name}; `cnnjax --help` lists the commands."
  if "Error whilst parsing config file" in message:
    # ml_collections wraps the config file's own traceback: its last line
    # is the error, its last File line where the file raised it.
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    where = [line for line in lines if line.startswith("File ")]
    flag = re.match(r"flag (--\S+):", message)
    return (f"{flag.group(1) if flag else '--config'}: the config file "
            f"raised {lines[-1]}" +
            (f" ({where[-1].split(', in ')[0]})" if where else "") + ".")
  value = re.match(r"flag --(\S+?)=(.*?): (.*)", message, flags=re.S)
  if value:
    name, given, reason = value.groups()
    wanted = next((kind for key, kind in _TYPES if key in reason), None)
    if wanted:
      return f"--{name} takes {wanted}, not {given!r}."
    return f"--{name}={given}: {reason.splitlines()[0]}"
  return message.splitlines()[0]
