"""What the OMOP tests share: a throwaway PostgreSQL server, a fast deterministic stand-in for the
pipeline (so a killed-and-restarted subprocess starts in a fraction of a second), and the
subprocess entry point that the kill-and-resume test SIGKILLs.

``python tests/omop_helpers.py URL [WHERE]`` runs the NOTE → NOTE_NLP job with :class:`WordTagger`.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from clinlm.document import Document, Entity  # noqa: E402

SYSTEM = "clinlm-test words@0"


class WordTagger:
    """Every word of 6+ letters is an entity; "no" before it negates it. ``delay`` per batch lets a
    test kill the process mid-run; ``fail_on`` makes notes holding that word raise."""

    manifest_dir = None

    def __init__(self, delay: float = 0.0, fail_on: str | None = None):
        self.delay = delay
        self.fail_on = fail_on

    def _one(self, doc: Document) -> Document:
        if self.fail_on and self.fail_on in doc.text:
            raise RuntimeError("cannot annotate")
        import re

        ents = []
        for m in re.finditer(r"[A-Za-z]{6,}", doc.text):
            before = doc.text[max(0, m.start() - 3):m.start()]
            attrs = {"negated": before.lower().strip() == "no", "family": False, "historical": "history" in doc.text,
                     "section": "history_of_present_illness" if "HPI" in doc.text else None}
            ents.append(Entity(m.start(), m.end(), "T033", m.group(), score=0.5, attributes=attrs))
        return doc.with_entities(ents)

    def pipe(self, docs, batch_size: int = 32):
        docs = list(docs)
        if self.delay:
            time.sleep(self.delay)
        return [self._one(d) for d in docs]


# -- a throwaway PostgreSQL ---------------------------------------------------------------
def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``initdb`` + ``pg_ctl start`` in a temporary folder on a free localhost port (as the
    ``postgres`` user when run as root: PostgreSQL refuses root), trust auth, fsync off."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="clinlm-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "clinlm", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c synchronous_commit=off -c full_page_writes=off", "start")
        self.n = 0

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run(self.as_user + [str(self.bindir / tool), *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed: {proc.stderr or proc.stdout}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://clinlm@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import sqlalchemy as sa

        self.n += 1
        name = f"clinlm_test_{self.n}"
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def main(argv: list[str]) -> None:
    from clinlm.omop.job import NoteNlpJob
    from clinlm.omop.schema import engine_for

    url, where = argv[0], (argv[1] if len(argv) > 1 else None)
    job = NoteNlpJob(engine_for(url), WordTagger(delay=0.05), SYSTEM, where=where, batch_notes=7)
    job.run()


if __name__ == "__main__":
    main(sys.argv[1:])
