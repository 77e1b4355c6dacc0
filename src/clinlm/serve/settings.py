"""What a ``clinlm serve`` process is told: the model, where to listen, its limits and batching."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from clinlm.errors import ConfigError

#: The environment variable that hands :class:`ServeSettings` to uvicorn's worker processes.
SETTINGS_ENV = "CLINLM_SERVE_SETTINGS"


@dataclass
class ServeSettings:
    """Settings of one server (every worker process gets the same ones).

    ``max_chars`` caps the characters of one request (a note, or all notes of a batch): 413 beyond.
    ``max_batch_notes`` caps the notes of ``/v1/annotate/batch`` (413 beyond). Micro-batching
    gathers queued notes into one pipeline call until ``max_batch_tokens`` (estimated subword
    tokens: characters / 4) or ``max_wait_ms`` after the first note; ``max_batch_tokens=0`` runs
    each note alone. At most ``max_queue`` notes wait (503 with ``Retry-After`` beyond), and a
    request that has not been answered in ``timeout_s`` gets a 503 ``timeout``. After a batch the
    inference thread gives the heap's free memory back at most every ``release_memory_s`` seconds
    (negative: never), or resident memory creeps up with every new batch shape.
    """

    model: str | None = None
    relations: str | None = None  # a relation model (clinlm train re) run after NER
    link: list[str] = field(default_factory=list)  # link index folders (clinlm link build)
    link_k: int = 5
    link_threshold: float = 0.6
    type_map: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_chars: int = 1_000_000
    max_batch_notes: int = 64
    max_batch_tokens: int = 8192
    max_wait_ms: float = 5.0
    release_memory_s: float = 1.0  # malloc_trim after a batch at most this often; negative: never
    max_queue: int = 256
    timeout_s: float = 60.0
    retry_after_s: int = 1
    token: str | None = field(default=None, repr=False)  # bearer token; None: no auth
    token_file: str | None = None  # where ``token`` was read: worker processes read it again
    cors_origins: list[str] = field(default_factory=list)
    context: bool = True
    clean: bool = True
    device: str = "auto"
    precision: str = "auto"
    max_length: int | None = None
    stride: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_chars", "max_batch_notes", "max_queue"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.max_batch_tokens < 0 or self.max_wait_ms < 0:
            raise ConfigError("--max-batch-tokens and --max-wait-ms cannot be negative")
        if self.timeout_s <= 0:
            raise ConfigError(f"--timeout must be positive, not {self.timeout_s}")
        if self.token is not None and not self.token:
            raise ConfigError("the token file is empty")

    @property
    def max_body_bytes(self) -> int:
        """Bytes a request body may hold: JSON escapes a character in at most 6 bytes (``\\u00e9``)."""
        return 6 * self.max_chars + (1 << 20)

    def to_json(self) -> str:
        """JSON for worker processes: never the token itself (an environment can be read), its file."""
        return json.dumps({k: v for k, v in asdict(self).items() if k != "token"})

    @classmethod
    def from_json(cls, text: str) -> "ServeSettings":
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        settings = cls(**{k: v for k, v in data.items() if k in known and k != "token"})
        if settings.token_file:
            settings.token = read_token(settings.token_file)
        return settings


def read_token(path: str) -> str:
    """The bearer token in ``path`` (its first line, stripped); a ``ConfigError`` when unreadable or empty."""
    try:
        with open(path, encoding="utf-8") as f:
            token = f.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the token file ({exc.__class__.__name__})") from None
    if not token:
        raise ConfigError(f"{path}: the token file is empty")
    return token
