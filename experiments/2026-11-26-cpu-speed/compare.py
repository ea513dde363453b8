"""cnnjax against PyTorch, side by side on this machine: one table.

Each case runs `cnnjax bench` and its PyTorch counterpart (in their own
processes, one at a time, alternating for --rounds rounds) and reports the
median step time of each, their ratio, and cnnjax's FLOP rate as a share of
a matmul's on the same devices in the compute dtype (from `cnnjax bench`).
Every run's JSON line is appended to --results (results.jsonl beside this
script). On a GPU machine, device.sh runs it.

  .venv/bin/python experiments/2026-11-26-cpu-speed/compare.py \\
      --torch_python /tmp/torchvenv/bin/python [--rounds 2] [--cases dcgan,...]

PyTorch (2.13.0, CPU build) lives in its own environment and is never a
cnnjax dependency:
  python3 -m venv /tmp/torchvenv
  /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SPEED = os.path.join(HERE, "..", "2026-11-25-speed")
CNNJAX = [sys.executable, "-m", "cnnjax.main", "bench"]
RESNET = ["--config.model.generator.base_width=32",
          "--config.model.discriminator.base_width=32"]

# name -> (cnnjax bench arguments, PyTorch script and arguments)
CASES = {
    "dcgan": (["--config=configs/dcgan.py:fashion_mnist", "--steps=30"],
              ["torch_dcgan.py", "--steps=30"]),
    "dcgan_bf16": (["--config=configs/dcgan.py:fashion_mnist", "--steps=30",
                    "--config.model.compute_dtype=bfloat16"],
                   ["torch_dcgan.py", "--steps=30", "--bf16"]),
    # Batch 1024: the size at which a GPU is busy (slow on a CPU).
    "dcgan_b1024": (["--config=configs/dcgan.py:fashion_mnist", "--steps=30",
                     "--batch=1024"],
                    ["torch_dcgan.py", "--steps=30", "--batch=1024"]),
    "dcgan_b1024_bf16": (["--config=configs/dcgan.py:fashion_mnist",
                          "--steps=30", "--batch=1024",
                          "--config.model.compute_dtype=bfloat16"],
                         ["torch_dcgan.py", "--steps=30", "--batch=1024",
                          "--bf16"]),
    "sngan_w32": (["--config=configs/sngan.py:fashion_mnist", "--steps=5",
                   *RESNET],
                  ["torch_resnet.py", "--family=sngan", "--width=32",
                   "--steps=5"]),
    "wgan_gp_w32": (["--config=configs/wgan_gp.py:fashion_mnist", "--steps=5",
                     *RESNET],
                    ["torch_resnet.py", "--family=wgan_gp", "--width=32",
                     "--steps=5"]),
    "cgan_w32": (["--config=configs/cgan.py:fashion_mnist", "--steps=5",
                  *RESNET],
                 ["torch_resnet.py", "--family=cgan", "--width=32",
                  "--steps=5"]),
    "sngan_w128": (["--config=configs/sngan.py:fashion_mnist", "--steps=3"],
                   ["torch_resnet.py", "--family=sngan", "--width=128",
                    "--steps=3", "--warmup=1"]),
}
CPU_CASES = ("dcgan", "dcgan_bf16", "sngan_w32", "wgan_gp_w32", "cgan_w32",
             "sngan_w128")


def _last_json(command, env=None):
  result = subprocess.run(command, capture_output=True, text=True, env=env,
                          check=False)
  if result.returncode != 0:
    sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n"
             f"{result.stderr[-2000:]}")
  return json.loads(result.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--torch_python", required=True)
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--cases", default=",".join(CPU_CASES),
                      help=f"comma-separated, of: {', '.join(CASES)}")
  parser.add_argument("--torch_device", default="cpu",
                      help="cuda on a GPU machine (cnnjax uses JAX's default "
                      "backend)")
  parser.add_argument("--results", default=os.path.join(HERE, "results.jsonl"),
                      help="where every run's JSON line is appended")
  args = parser.parse_args()
  names = args.cases.split(",")
  unknown = sorted(set(names) - set(CASES))
  if unknown:
    parser.error(f"unknown cases {unknown}; known: {', '.join(CASES)}")
  # Every launch compiles: the persistent cache would hide compile time.
  env = {**os.environ, "CNNJAX_COMPILATION_CACHE": "off"}
  runs = {name: {"cnnjax": [], "pytorch": []} for name in names}
  with open(args.results, "a") as log:
    for round_ in range(args.rounds):
      for name in names:
        ours, theirs = CASES[name]
        for side, command in [
            ("cnnjax", CNNJAX + ours),
            ("pytorch", [args.torch_python, os.path.join(SPEED, theirs[0]),
                         *theirs[1:], f"--device={args.torch_device}"])]:
          result = _last_json(command, env)
          runs[name][side].append(result)
          log.write(json.dumps({
              "case": name, "side": side, "round": round_,
              "time": datetime.datetime.now().isoformat(timespec="seconds"),
              **result}) + "\n")
          log.flush()
          print(f"{name:12s} {side:8s} {result['step_ms']:9.1f} ms",
                flush=True)

  print("\n| case | cnnjax step | PyTorch step | cnnjax speed / PyTorch's "
        "| cnnjax GFLOP/s | share of matmul | cnnjax compile |")
  print("|---|---|---|---|---|---|---|")
  for name in names:
    ours, theirs = runs[name]["cnnjax"], runs[name]["pytorch"]
    ours_ms = statistics.median(r["step_ms"] for r in ours)
    theirs_ms = statistics.median(r["step_ms"] for r in theirs)
    print(f"| {name} | {ours_ms:.1f} ms | {theirs_ms:.1f} ms "
          f"| **{theirs_ms / ours_ms:.2f}x** "
          f"| {statistics.median(r['gflops_per_sec'] for r in ours):.0f} "
          f"| {statistics.median(r['share_of_matmul'] for r in ours):.0%} "
          f"| {statistics.median(r['compile_s'] for r in ours):.1f} s |")


if __name__ == "__main__":
  main()
