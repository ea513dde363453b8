"""The editing half of cnnjax: encoders' inversion, latent edits and the math
behind them, kept apart from training.

A trained generator as pure functions (`generator`), what `cnnjax invert` and
`cnnjax edit` read and write (`inputs`), a perceptual distance (`perceptual`)
and network-independent latent-space math: interpolation, InterFaceGAN, SeFa
and GANSpace directions (`latent_ops`). Import submodules directly: this
package imports nothing, so `import cnnjax.editing` stays cheap.
"""
