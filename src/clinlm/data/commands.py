"""``clinlm data medmentions``: ready-to-train MedMentions ST21pv splits."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from clinlm.cli.app import data_app
from clinlm.cli.console import esc, out
from clinlm.errors import InputError

# -- data -------------------------------------------------------------------------------
@data_app.command("medmentions")
def data_medmentions(
    output: Path = typer.Option(..., "--output", "-o", help="Directory for train/dev/test JSONL."),
    shared: Optional[Path] = typer.Option(None, "--shared", help="Folder with full-dev.conll, full-test.conll and st21pv_ancestor.tsv (MM-ST21pv-r)."),
    pubtator: Optional[Path] = typer.Option(None, "--pubtator", help="Official corpus_pubtator.txt.gz (ST21pv)."),
    splits: Optional[Path] = typer.Option(None, "--splits", help="Folder with the official PMID split files (with --pubtator)."),
    seed: int = typer.Option(13, help="Seed of the 10% dev holdout (MM-ST21pv-r)."),
) -> None:
    """Build MedMentions ST21pv train/dev/test files: official splits from the PubTator file, or MM-ST21pv-r."""
    from clinlm.data.medmentions import build_official, build_reconstructed

    if pubtator is not None:
        if splits is None:
            raise InputError("--pubtator needs --splits DIR with the official PMID lists")
        summary = build_official(pubtator, splits, output)
    else:
        if shared is None:
            default = Path("../shared/data/medmentions")
            if not default.is_dir():
                raise InputError("give --shared DIR (MM-ST21pv-r) or --pubtator FILE --splits DIR (official)")
            shared = default
        summary = build_reconstructed(shared, output, seed=seed)
    table = Table(title=f"{esc(summary.get('protocol', 'MedMentions'))} -> {esc(output)}", title_justify="left")
    for col in ("split", "documents", "mentions"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for split, counts in summary["splits"].items():
        table.add_row(esc(split), str(counts["docs"]), str(counts["mentions"]))
    out.print(table)
