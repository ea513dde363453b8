"""The enhance task: automatic colour and contrast, learned by undoing
random degradations (`config.py` for its fields, `task.py` for its step)."""
