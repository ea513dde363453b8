"""The encoder task: an image -> latent encoder for a frozen, trained
generator (`config.py` for its fields, `task.py` for its step)."""
