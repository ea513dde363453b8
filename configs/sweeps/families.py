"""The six GAN families on Fashion-MNIST at one budget, as a sweep: 192k
real images seen by the discriminator (3000 steps at batch 64, or 600
steps x n_critic 5), evaluated (FID/KID/PR/IS with the shipped Fashion-MNIST
classifier) during training, as experiments/2026-11-25-families/run.sh
did. ResNet families run at base_width 32 (the
configs say 128) to fit a 2-core CPU.

  cnnjax sweep configs/sweeps/families.py --root runs/sweeps
  cnnjax compare runs/sweeps/families --sort fid --plot curves.png --metric fid

The argument "tiny" makes it a seconds-long smoke test on digits.
"""


def get_sweep(arg=None):
  dataset = "tiny" if arg == "tiny" else "fashion_mnist"
  steps = {"long": (3000, 1000), "resnet": (600, 200)}
  if arg == "tiny":
    steps = {"long": (20, 10), "resnet": (10, 5)}
  runs = []
  for family in ("mlp_gan", "dcgan", "lsgan", "sngan", "wgan_gp", "cgan"):
    resnet = family in ("sngan", "wgan_gp", "cgan")
    num_steps, every = steps["resnet" if resnet else "long"]
    run = {"config": f"configs/{family}.py:{dataset}",
           "train.num_steps": num_steps, "eval.every_steps": every,
           "train.sample_every_steps": every,
           "train.checkpoint_every_steps": every,
           "wandb.mode": "disabled"}
    if resnet and arg != "tiny":
      run["model.generator.base_width"] = 32
      run["model.discriminator.base_width"] = 32
    if arg == "tiny":
      run["eval.num_samples"] = run["eval.num_real"] = 64
    runs.append(run)
  return {"runs": runs}
