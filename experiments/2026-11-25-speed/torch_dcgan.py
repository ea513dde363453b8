"""PyTorch reference for `cnnjax bench --config configs/dcgan.py:fashion_mnist`.

The same model and step as cnnjax's canonical DCGAN: 32x32x1, z = 100,
ngf = ndf = 64, batch norm, no biases, BCE-with-logits (the non-saturating
loss), Adam(2e-4, betas=(0.5, 0.999)), batch 64; one D update on real and
detached fake, then one G update through the updated D reusing the same fake
batch (PyTorch's canonical DCGAN example). Synthetic data already in memory,
as in `cnnjax bench`. Prints one JSON line.

  python torch_dcgan.py [--steps 20] [--batch 64] [--threads 2]

PyTorch is never a cnnjax dependency: install it in a separate environment.
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn


def generator(nz=100, ngf=64, nc=1):
  return nn.Sequential(
      nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
      nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
      nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
      nn.BatchNorm2d(ngf), nn.ReLU(True),
      nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def discriminator(ndf=64, nc=1):
  return nn.Sequential(
      nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
      nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
      nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
      nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
      nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
      nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Flatten())


def time_steps(step, device, steps: int, warmup: int,
               bf16: bool = False) -> list[float]:
  """Seconds of each timed call of `step` (which returns (d_loss, ...)),
  after `warmup` untimed ones; each waits for its results, as cnnjax bench.
  With `bf16`, the step runs under bfloat16 autocast."""
  plain_step = step

  def step():
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
      return plain_step()

  def sync():
    if device.type == "cuda":
      torch.cuda.synchronize()

  for _ in range(warmup):
    step()
  sync()
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    step()[0].item()
    sync()
    times.append(time.perf_counter() - start)
  return times


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--device", default="cpu")
  parser.add_argument("--bf16", action="store_true",
                      help="bfloat16 autocast (like model.compute_dtype)")
  args = parser.parse_args()
  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  device = torch.device(args.device)
  g, d = generator().to(device), discriminator().to(device)
  g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
  d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
  loss = nn.BCEWithLogitsLoss()
  real = torch.rand(args.batch, 1, 32, 32, device=device) * 2 - 1
  ones = torch.ones(args.batch, 1, device=device)
  zeros = torch.zeros(args.batch, 1, device=device)

  def step():
    z = torch.randn(args.batch, 100, 1, 1, device=device)
    fake = g(z)
    d_opt.zero_grad(set_to_none=True)
    d_loss = loss(d(real), ones) + loss(d(fake.detach()), zeros)
    d_loss.backward()
    d_opt.step()
    g_opt.zero_grad(set_to_none=True)
    g_loss = loss(d(fake), ones)
    g_loss.backward()
    g_opt.step()
    return d_loss, g_loss

  times = time_steps(step, device, args.steps, args.warmup, args.bf16)
  step_s = statistics.median(times)
  print(json.dumps({
      "framework": f"pytorch {torch.__version__}", "device": str(device),
      "compute": "bfloat16 autocast" if args.bf16 else "float32",
      "threads": torch.get_num_threads(), "batch_size": args.batch,
      "images_per_sec": args.batch / step_s, "step_ms": 1000 * step_s,
      "step_ms_min": 1000 * min(times), "steps": args.steps}))


if __name__ == "__main__":
  main()
