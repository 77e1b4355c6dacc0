"""``clinlm train linker``: an encoder fine-tuned on a vocabulary's own synonyms (SapBERT-style)."""
