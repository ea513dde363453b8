"""The GAN task (configs/dcgan.py and friends).

  config.py    its config sections, defaults and validation
  state.py     the typed train state, networks and optimizers
  phases.py    D main, D regularisation, G main, G regularisation, hooks
  step.py      the phases composed into one pure step
  sampling.py  generating images: grids, latents, the evaluator's generate
  task.py      GanTask: the Task protocol for the loop and the CLI
"""
