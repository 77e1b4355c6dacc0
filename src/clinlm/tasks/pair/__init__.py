"""Sentence-pair tasks (similarity, inference, PubMedQA): ``data`` (readers), ``task``, ``metrics``,
``crossval`` (k-fold for small sets such as BIOSSES) and ``commands``."""
