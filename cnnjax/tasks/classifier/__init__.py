"""The classifier task (configs/classifier.py); its schema is `config.py`."""
