"""The adain task: AdaIN style transfer's decoder (Huang & Belongie 2017),
trained on content and style streams (`config.py` for its fields, `task.py`
for its step)."""
