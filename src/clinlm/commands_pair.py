"""`clinlm train|evaluate|predict sts|nli|pubmedqa|qa` and `clinlm evaluate mc` (registered on cli's apps)."""
from __future__ import annotations
