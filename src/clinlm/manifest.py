"""The small ``clinlm.json`` beside a Hugging Face checkpoint: what it is and how it was made."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

MANIFEST = "clinlm.json"


def read(model_dir: str | Path) -> dict[str, Any]:
    p = Path(model_dir) / MANIFEST
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def write(model_dir: str | Path, manifest: dict[str, Any]) -> None:
    p = Path(model_dir) / MANIFEST
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(p)


def fingerprint(paths: Iterable[str | Path]) -> str:
    """sha256 over the bytes of the training files, so a checkpoint names its data exactly."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()
