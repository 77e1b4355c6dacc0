"""Extractive question answering over long contexts: ``data`` (SQuAD layout), ``task``, ``metrics``, ``commands``."""
