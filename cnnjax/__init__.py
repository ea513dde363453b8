"""cnnjax: image generation and editing with convolutional networks in JAX/Flax."""

__version__ = "0.1.0"
