"""PyTorch reference for the ResNet families (`configs/sngan.py`,
`configs/wgan_gp.py`, `configs/cgan.py`) at 32x32x1.

The same networks as cnnjax/models/resnet.py: G = dense to 4x4xg, three
residual up-blocks (BN-ReLU-up2-conv3-BN-ReLU-conv3, 1x1 upsampled shortcut),
BN-ReLU-conv3-tanh; D = an optimized first block, one down block and two
plain blocks of width g, ReLU, global sum, dense (spectral norm on every D
layer for sngan/cgan; a projection head and class-conditional BN for cgan).
The same step: n_critic D updates, each on a fresh generator forward (BN in
train mode), the last one sharing its forward with the G update; hinge loss
(sngan, cgan) or Wasserstein + gradient penalty 10 (wgan_gp); Adam(2e-4,
betas=(0, 0.9)); an EMA of G for sngan/cgan. Synthetic data in memory.

  python torch_resnet.py --family sngan [--width 32] [--n_critic 5] [--steps 5]

PyTorch is never a cnnjax dependency: install it in a separate environment.
"""

import argparse
import json
import statistics

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from torch_dcgan import time_steps  # this directory

class CondBN(nn.Module):
  def __init__(self, features, num_classes):
    super().__init__()
    self.conditional = num_classes > 0
    self.bn = nn.BatchNorm2d(features, affine=not self.conditional,
                             momentum=0.1)
    if self.conditional:
      self.gain = nn.Embedding(num_classes, features)
      self.bias = nn.Embedding(num_classes, features)
      nn.init.ones_(self.gain.weight)
      nn.init.zeros_(self.bias.weight)

  def forward(self, x, y):
    x = self.bn(x)
    if not self.conditional:
      return x
    return x * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class UpBlock(nn.Module):
  def __init__(self, cin, cout, num_classes):
    super().__init__()
    self.n1, self.n2 = CondBN(cin, num_classes), CondBN(cout, num_classes)
    self.c1 = nn.Conv2d(cin, cout, 3, 1, 1)
    self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
    self.sc = nn.Conv2d(cin, cout, 1)

  def forward(self, x, y):
    h = F.interpolate(F.relu(self.n1(x, y)), scale_factor=2)
    h = self.c2(F.relu(self.n2(self.c1(h), y)))
    return h + F.interpolate(self.sc(x), scale_factor=2)


class Generator(nn.Module):
  def __init__(self, nz, g, num_classes):
    super().__init__()
    self.g = g
    self.project = nn.Linear(nz, 16 * g)
    self.blocks = nn.ModuleList([UpBlock(g, g, num_classes) for _ in range(3)])
    self.norm = CondBN(g, num_classes)
    self.out = nn.Conv2d(g, 1, 3, 1, 1)

  def forward(self, z, y=None):
    x = self.project(z).view(-1, self.g, 4, 4)
    for block in self.blocks:
      x = block(x, y)
    return torch.tanh(self.out(F.relu(self.norm(x, y))))


class DownBlock(nn.Module):
  def __init__(self, cin, cout, down, first, sn):
    super().__init__()
    self.down, self.first = down, first
    self.c1, self.c2 = sn(nn.Conv2d(cin, cout, 3, 1, 1)), sn(nn.Conv2d(cout, cout, 3, 1, 1))
    self.sc = sn(nn.Conv2d(cin, cout, 1)) if (down or cin != cout) else None

  def forward(self, x):
    h = x if self.first else F.relu(x)
    h = self.c2(F.relu(self.c1(h)))
    if self.down:
      h = F.avg_pool2d(h, 2)
    if self.first:  # pool, then the 1x1 shortcut
      return h + self.sc(F.avg_pool2d(x, 2))
    if self.down:
      x = F.avg_pool2d(x, 2)
    return h + (self.sc(x) if self.sc is not None else x)


class Discriminator(nn.Module):
  def __init__(self, g, num_classes, use_sn):
    super().__init__()
    sn = spectral_norm if use_sn else (lambda m: m)
    self.blocks = nn.Sequential(
        DownBlock(1, g, True, True, sn), DownBlock(g, g, True, False, sn),
        DownBlock(g, g, False, False, sn), DownBlock(g, g, False, False, sn))
    self.linear = sn(nn.Linear(g, 1))
    self.embed = sn(nn.Embedding(num_classes, g)) if num_classes else None

  def forward(self, x, y=None):
    h = torch.sum(F.relu(self.blocks(x)), dim=(2, 3))
    out = self.linear(h)[:, 0]
    if self.embed is not None:
      out = out + torch.sum(self.embed(y) * h, dim=1)
    return out


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--family", choices=("sngan", "wgan_gp", "cgan"),
                      default="sngan")
  parser.add_argument("--width", type=int, default=32)
  parser.add_argument("--n_critic", type=int, default=5)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--device", default="cpu")
  parser.add_argument("--bf16", action="store_true",
                      help="bfloat16 autocast (like model.compute_dtype)")
  args = parser.parse_args()
  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  device = torch.device(args.device)
  classes = 10 if args.family == "cgan" else 0
  g = Generator(128, args.width, classes).to(device)
  d = Discriminator(args.width, classes, args.family != "wgan_gp").to(device)
  ema = [p.detach().clone() for p in g.parameters()]
  g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.0, 0.9))
  d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.0, 0.9))
  reals = torch.rand(args.n_critic, args.batch, 1, 32, 32, device=device) * 2 - 1
  labels = torch.randint(0, max(classes, 1), (args.batch,), device=device)
  y = labels if classes else None

  def d_loss_of(real, fake):
    real_out, fake_out = d(real, y), d(fake, y)
    if args.family == "wgan_gp":
      alpha = torch.rand(args.batch, 1, 1, 1, device=device)
      mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
      grad, = torch.autograd.grad(d(mixed, y).sum(), mixed, create_graph=True)
      penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
      return fake_out.mean() - real_out.mean() + 10 * penalty
    return F.relu(1 - real_out).mean() + F.relu(1 + fake_out).mean()

  def step():
    for index in range(args.n_critic):
      fake = g(torch.randn(args.batch, 128, device=device), y)
      d_opt.zero_grad(set_to_none=True)
      d_loss = d_loss_of(reals[index], fake.detach())
      d_loss.backward()
      d_opt.step()
    g_opt.zero_grad(set_to_none=True)
    g_loss = -d(fake, y).mean()  # the last D update's fake batch
    g_loss.backward()
    g_opt.step()
    if args.family != "wgan_gp":
      with torch.no_grad():
        torch._foreach_lerp_(ema, list(g.parameters()), 1 - 0.999)
    return d_loss, g_loss

  step_s = statistics.median(time_steps(step, device, args.steps, args.warmup,
                                        args.bf16))
  print(json.dumps({
      "framework": f"pytorch {torch.__version__}", "family": args.family,
      "device": str(device), "threads": torch.get_num_threads(),
      "compute": "bfloat16 autocast" if args.bf16 else "float32",
      "width": args.width, "n_critic": args.n_critic,
      "batch_size": args.batch,
      # Generator steps x batch per second, as `cnnjax bench` counts them.
      "images_per_sec": args.batch / step_s,
      "step_ms": 1000 * step_s, "steps": args.steps}))


if __name__ == "__main__":
  main()
