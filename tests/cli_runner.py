"""Run ``clinlm`` in this process, as the console script does (``clinlm.cli.main.main``).

A subprocess pays Python's and torch's start-up (seconds) on every call; the command code path is
the same, exit status, stdout and stderr included. Tests that are about the process itself (the
entry point, signals) still start one.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path


class _Stream(io.TextIOWrapper):
    """A text stream with a ``.buffer`` (the CLI writes text and reads stdin's bytes)."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8", write_through=True)

    def value(self) -> bytes:
        self.flush()
        return self.buffer.getvalue()


def clinlm(*args, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    from clinlm.cli.main import main

    argv = ["clinlm", *map(str, args)]
    out, err, inp = _Stream(), _Stream(), _Stream(stdin or b"")
    saved = sys.argv, sys.stdout, sys.stderr, sys.stdin
    here = os.getcwd()
    code = 0
    try:
        sys.argv, sys.stdout, sys.stderr, sys.stdin = argv, out, err, inp
        if cwd is not None:
            os.chdir(cwd)
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(here)
        sys.argv, sys.stdout, sys.stderr, sys.stdin = saved
    return subprocess.CompletedProcess(argv, code, out.value(), err.value())
