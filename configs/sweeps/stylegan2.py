"""StyleGAN2 against DCGAN on Fashion-MNIST, 3 seeds each, for the families
table: 384k real images seen by D (6000 steps at batch 64, twice the
families budget), evaluated every 64k images, so the 192k-image numbers
are the step-3000 evaluation of the same runs. Both at 32x32x1.

  cnnjax sweep configs/sweeps/stylegan2.py --root runs/sweeps
  cnnjax compare runs/sweeps/stylegan2 --sort fid
  cnnjax compare runs/sweeps/stylegan2 --step 3000 --sort fid

The runs go one after another, alternating the families, so an
interrupted sweep has rows of both; launching it again resumes it.
The argument "tiny" makes it a seconds-long smoke test on digits.
"""


def get_sweep(arg=None):
  tiny = arg == "tiny"
  steps, every = (4, 2) if tiny else (6000, 1000)
  runs = []
  for seed in (0, 1, 2):
    for family in ("stylegan2", "dcgan"):
      run = {"config": f"configs/{family}.py:"
                       + ("digits,tiny" if tiny else "fashion_mnist"),
             "train.seed": seed, "train.num_steps": steps,
             "eval.every_steps": every, "train.sample_every_steps": every,
             "train.checkpoint_every_steps": every,
             "wandb.mode": "disabled"}
      if tiny:
        run["eval.num_samples"] = run["eval.num_real"] = 64
      runs.append(run)
  return {"runs": runs}
