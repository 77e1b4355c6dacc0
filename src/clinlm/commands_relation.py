"""`clinlm train|evaluate|predict re`: relation extraction commands (registered on cli's apps)."""
from __future__ import annotations
