"""MedMentions ST21pv: build ``train.jsonl``/``dev.jsonl``/``test.jsonl`` (+ ``README.json``).

Two builders:

* :func:`build_reconstructed` -- the "MM-ST21pv-r" protocol of
  ``shared/data/medmentions/README.md``, from the full-corpus CoNLL files of the
  official dev and test splits: fine types mapped to their ST21pv ancestor, train =
  official dev minus a seeded 10% holdout (by PMID), dev = that holdout, test =
  the official test documents.
* :func:`build_official` -- the official ST21pv release (``corpus_pubtator.txt.gz``)
  with the official train/dev/test PMID lists.

Both write with the JSONL writer (atomically) and return the summary they store in
``README.json``.
"""
from __future__ import annotations

import hashlib
import json
import random
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

from clinlm.document import Document, Entity
from clinlm.errors import InputError
from clinlm.formats import atomic_write_text, conll, pubtator, read_text_file, split_lines, write_documents
from clinlm.labels import ST21PV_TYPES

PROTOCOL_RECONSTRUCTED = "MM-ST21pv-r"
PROTOCOL_OFFICIAL = "MM-ST21pv"
SPLITS = ("train", "dev", "test")

#: Official split file names: ours (shared/data) and the MedMentions repository's.
SPLIT_FILE_NAMES = (
    {"train": "pmids_train.txt", "dev": "pmids_dev.txt", "test": "pmids_test.txt"},
    {
        "train": "corpus_pubtator_pmids_trng.txt",
        "dev": "corpus_pubtator_pmids_dev.txt",
        "test": "corpus_pubtator_pmids_test.txt",
    },
)


def _need_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise InputError(f"missing file: expected {what} here", str(path))
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def medmentions_dir(shared_dir: str | Path) -> Path:
    """``shared_dir/medmentions`` when it exists, else ``shared_dir`` itself."""
    p = Path(shared_dir)
    return p / "medmentions" if (p / "medmentions").is_dir() else p


def load_ancestors(path: str | Path) -> dict[str, str]:
    """``st21pv_ancestor.tsv``: fine semantic type -> its ST21pv type."""
    path = Path(path)
    out: dict[str, str] = {}
    for lineno, line in enumerate(split_lines(read_text_file(path)), 1):
        if not line.strip() or (lineno == 1 and line.split("\t")[0] == "fine_type"):
            continue
        cols = line.split("\t")
        if len(cols) != 2 or not cols[0] or not cols[1]:
            raise InputError("expected 'fine_type<TAB>st21pv_type'", str(path), lineno)
        if cols[1] not in ST21PV_TYPES:
            raise InputError(f"{cols[1]!r} is not one of the 21 ST21pv types", str(path), lineno)
        if cols[0] in out and out[cols[0]] != cols[1]:
            raise InputError(f"fine type {cols[0]} is mapped twice", str(path), lineno)
        out[cols[0]] = cols[1]
    return out


def read_pmids(path: str | Path) -> list[str]:
    """One PMID per line (blank lines skipped); a repeated PMID raises."""
    path = Path(path)
    seen: dict[str, int] = {}
    for lineno, line in enumerate(split_lines(read_text_file(path)), 1):
        pmid = line.strip()
        if not pmid:
            continue
        if pmid in seen:
            raise InputError(f"PMID {pmid} is listed twice (first on line {seen[pmid]})", str(path), lineno)
        seen[pmid] = lineno
    return list(seen)


def holdout_split(pmids: Iterable[str], seed: int = 13, holdout: float = 0.1) -> tuple[list[str], list[str]]:
    """``(kept, held_out)``: sort the PMIDs, shuffle with ``random.Random(seed)``, hold out
    the first ``round(holdout * n)``. Both lists come back sorted."""
    if not 0 <= holdout <= 1:
        raise InputError(f"holdout must be a fraction between 0 and 1, got {holdout}")
    ordered = sorted(set(pmids))
    random.Random(seed).shuffle(ordered)
    k = round(holdout * len(ordered))
    return sorted(ordered[k:]), sorted(ordered[:k])


def _count(docs: Sequence[Document]) -> dict[str, int]:
    return {"docs": len(docs), "mentions": sum(len(d.entities) for d in docs)}


def _write_split_files(out_dir: Path, splits: dict[str, list[Document]], summary: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        write_documents(splits[name], out_dir / f"{name}.jsonl", "jsonl")
    atomic_write_text(out_dir / "README.json", [json.dumps(summary, indent=2, ensure_ascii=False) + "\n"])


def _reconstructed_docs(path: Path, ancestors: dict[str, str]) -> tuple[list[Document], int]:
    """ST21pv documents of one full-corpus CoNLL file, and how many ``I-`` tags began no mention."""
    docs = []
    orphans = 0
    seen: set[str] = set()
    for td in conll.read_tagged(path):
        if td.id in seen:
            raise InputError(f"document {td.id} appears twice", str(path), td.line)
        seen.add(td.id)
        for tags in td.tags:
            covered = sum(last - first for first, last, _ in conll.strict_spans(tags))
            orphans += sum(1 for t in tags if t != "O") - covered
        docs.append(conll.to_document(td.id, td.tokens, td.tags, strict=True, map_type=ancestors.get))
    return docs, orphans


def _check_pmids(docs: Sequence[Document], pmids_file: Path, conll_file: Path) -> None:
    if not pmids_file.is_file():
        return
    listed = set(read_pmids(pmids_file))
    have = {d.id for d in docs}
    if listed != have:
        raise InputError(
            f"the documents differ from {pmids_file.name}: {len(have - listed)} not listed there, "
            f"{len(listed - have)} listed but missing",
            str(conll_file),
        )


def build_reconstructed(
    shared_dir: str | Path, out_dir: str | Path, seed: int = 13, holdout: float = 0.1
) -> dict[str, Any]:
    """Build the MM-ST21pv-r splits into ``out_dir`` and return their summary.

    ``shared_dir`` is the shared data folder or its ``medmentions`` subfolder, holding
    ``full-dev.conll``, ``full-test.conll`` and ``st21pv_ancestor.tsv`` (and, checked when
    present, ``pmids_dev.txt``/``pmids_test.txt``).

    Mentions are read from the fine IOB2 tags strictly: a mention is a ``B-X`` and the
    ``I-X`` tags right after it; its type is mapped through ``st21pv_ancestor.tsv`` and a
    type with no ST21pv ancestor drops the whole mention. An ``I-`` tag that does not
    continue a mention of its own type (an artefact of nested mentions in the source
    files) starts none; their number is in the summary. This gives exactly the
    README's 40,242 dev and 39,536 test mentions.
    """
    mm = medmentions_dir(shared_dir)
    dev_file = _need_file(mm / "full-dev.conll", "the full-corpus CoNLL file of the official dev split")
    test_file = _need_file(mm / "full-test.conll", "the full-corpus CoNLL file of the official test split")
    anc_file = _need_file(mm / "st21pv_ancestor.tsv", "the fine type -> ST21pv type table (fine_type, st21pv_type)")
    ancestors = load_ancestors(anc_file)

    dev_docs, dev_orphans = _reconstructed_docs(dev_file, ancestors)
    test_docs, test_orphans = _reconstructed_docs(test_file, ancestors)
    both = {d.id for d in dev_docs} & {d.id for d in test_docs}
    if both:
        raise InputError(f"{len(both)} PMIDs are in both the dev and the test file, e.g. {min(both)}", str(test_file))
    _check_pmids(dev_docs, mm / "pmids_dev.txt", dev_file)
    _check_pmids(test_docs, mm / "pmids_test.txt", test_file)

    _, held = holdout_split((d.id for d in dev_docs), seed, holdout)
    held_set = set(held)
    splits = {
        "train": [d for d in dev_docs if d.id not in held_set],
        "dev": [d for d in dev_docs if d.id in held_set],
        "test": test_docs,
    }
    summary: dict[str, Any] = {
        "protocol": PROTOCOL_RECONSTRUCTED,
        "description": (
            "MedMentions full-corpus CoNLL (official dev and test splits) mapped to the 21 ST21pv types; "
            "train = official dev minus a seeded holdout by PMID, dev = that holdout, test = official test"
        ),
        "seed": seed,
        "holdout": holdout,
        "labels": sorted(ST21PV_TYPES),
        "splits": {name: _count(docs) for name, docs in splits.items()},
        "official_dev": _count(dev_docs),
        "official_test": _count(test_docs),
        "i_tags_in_no_mention": {"official_dev": dev_orphans, "official_test": test_orphans},
        "sources": {f.name: {"sha256": _sha256(f)} for f in (dev_file, test_file, anc_file)},
    }
    _write_split_files(Path(out_dir), splits, summary)
    return summary


def find_split_files(splits_dir: str | Path) -> dict[str, Path]:
    """The official split files in ``splits_dir`` (either naming, see ``SPLIT_FILE_NAMES``)."""
    d = Path(splits_dir)
    for names in SPLIT_FILE_NAMES:
        paths = {split: d / name for split, name in names.items()}
        if all(p.is_file() for p in paths.values()):
            return paths
    expected = " or ".join(", ".join(names.values()) for names in SPLIT_FILE_NAMES)
    raise InputError(f"missing split files: expected {expected}", str(d))


def _st21pv_entity(e: Entity) -> Entity | None:
    types = e.attributes.get("types") or [e.label]
    label = next((t for t in types if t in ST21PV_TYPES), None)
    if label is None:
        return None
    return Entity(e.start, e.end, label, e.text, e.score, dict(e.attributes))


def build_official(
    pubtator_path: str | Path, splits_dir: str | Path, out_dir: str | Path, *, strict: bool = False
) -> dict[str, Any]:
    """Build train/dev/test JSONL from the official ``corpus_pubtator.txt.gz`` and PMID lists.

    Each mention's label is its first ST21pv type (``attributes["concept"]`` keeps the
    ``UMLS:`` id; a mention with no ST21pv type is dropped and counted). A PMID listed
    in two splits raises ``InputError``. Corpus documents in no split are skipped and
    split PMIDs missing from the corpus are ignored: both are counted under
    ``"warnings"`` in the summary and reported with ``warnings.warn``, or raise
    ``InputError`` when ``strict=True``.
    """
    pub = _need_file(Path(pubtator_path), "the MedMentions ST21pv corpus in PubTator format (corpus_pubtator.txt.gz)")
    split_files = find_split_files(splits_dir)
    split_of: dict[str, str] = {}
    listed: dict[str, set[str]] = {}
    for split, path in split_files.items():
        listed[split] = set(read_pmids(path))
        for pmid in listed[split]:
            if pmid in split_of:
                raise InputError(f"PMID {pmid} is in both the {split_of[pmid]} and the {split} split", str(path))
            split_of[pmid] = split

    splits: dict[str, list[Document]] = {s: [] for s in SPLITS}
    seen: set[str] = set()
    unassigned = 0
    dropped = 0
    for doc in pubtator.read(pub):
        if doc.id in seen:
            raise InputError(f"document {doc.id} appears twice", str(pub))
        seen.add(doc.id)
        split = split_of.get(doc.id)
        if split is None:
            unassigned += 1
            continue
        ents = [_st21pv_entity(e) for e in doc.entities]
        dropped += sum(1 for e in ents if e is None)
        splits[split].append(Document(doc.id, doc.text, [e for e in ents if e is not None], dict(doc.metadata)))
    missing = {s: len(listed[s] - seen) for s in SPLITS}
    problems = []
    if unassigned:
        problems.append(f"{unassigned} corpus documents are in no split")
    if any(missing.values()):
        problems.append(
            "split PMIDs missing from the corpus: " + ", ".join(f"{s} {n}" for s, n in missing.items() if n)
        )
    if problems and strict:
        raise InputError("; ".join(problems), str(pub))
    for p in problems:
        warnings.warn(f"MedMentions: {p}; building without them", stacklevel=2)

    summary: dict[str, Any] = {
        "protocol": PROTOCOL_OFFICIAL,
        "description": "MedMentions ST21pv (official PubTator release) by the official train/dev/test PMID split",
        "labels": sorted(ST21PV_TYPES),
        "splits": {name: _count(docs) for name, docs in splits.items()},
        "mentions_without_st21pv_type": dropped,
        "warnings": {"docs_in_no_split": unassigned, "split_pmids_missing_from_corpus": missing},
        "sources": {f.name: {"sha256": _sha256(f)} for f in [pub, *split_files.values()]},
    }
    _write_split_files(Path(out_dir), splits, summary)
    return summary
