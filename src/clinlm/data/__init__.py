"""Dataset builders: corpus files in, ready-to-train JSONL splits out (``clinlm data ...``)."""
