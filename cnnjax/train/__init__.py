"""Training: state, pure step functions, and the loop."""
