"""Sentence-pair examples and readers for the published layouts of STS, NLI and PubMedQA data.

Every reader checks each row and names ``file:line`` when one is malformed, so a user with a
credentialed corpus (ClinicalSTS, MedNLI) finds the bad row at once.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union
from xml.parsers import expat

from clinlm.errors import InputError
from clinlm.formats.files import line_of, load_json, read_text_file

Label = Union[str, float, None]
STS_RANGE = (0.0, 5.0)  # ClinicalSTS 0-5, BIOSSES 0-4
PUBMEDQA_LABELS = ("yes", "no", "maybe")


@dataclass(frozen=True)
class PairExample:
    """Two texts and, for gold data, a label (a class name, or a similarity score for STS)."""

    id: str
    text_a: str
    text_b: str
    label: Label = None


def read_pairs(path: str | Path, kind: str, require_label: bool = True) -> list[PairExample]:
    """Examples of task ``kind`` (sts, nli, pubmedqa) from a file, by its layout:
    ``.tsv``/``.txt`` ClinicalSTS or BIOSSES, ``.jsonl`` MedNLI, ``.xml`` RQE, ``.json`` PubMedQA."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", str(p))
    suffix = p.suffix.lower()
    if suffix in (".tsv", ".txt"):
        examples = read_sts_tsv(p, require_label)
    elif suffix == ".jsonl":
        examples = read_pairs_jsonl(p, kind, require_label)
    elif suffix == ".xml":
        examples = read_rqe_xml(p)
    elif suffix == ".json":
        examples = read_pubmedqa_json(p, require_label)
    else:
        raise InputError(f"unknown pair-data layout {suffix!r}; use .tsv (STS), .jsonl (MedNLI), .xml (RQE) or .json (PubMedQA)", str(p))
    if not examples:
        raise InputError("no examples in this file", str(p))
    _check_kind(examples, kind, p)
    return examples


def _check_kind(examples: Sequence[PairExample], kind: str, path: Path) -> None:
    labelled = [e for e in examples if e.label is not None]
    if kind == "sts" and any(not isinstance(e.label, float) for e in labelled):
        raise InputError("this file holds class labels, not similarity scores (is it NLI data?)", str(path))
    if kind != "sts" and any(isinstance(e.label, float) for e in labelled):
        raise InputError("this file holds similarity scores, not class labels (is it STS data?)", str(path))


def _score(value: str, path: Path, line: int) -> float:
    try:
        score = float(value)
    except ValueError:
        raise InputError(f"similarity score {value!r} is not a number", str(path), line) from None
    lo, hi = STS_RANGE
    if not math.isfinite(score) or not lo <= score <= hi:
        raise InputError(f"similarity score {value} is outside {lo:g}-{hi:g}", str(path), line)
    return score


def read_sts_tsv(path: Path, require_label: bool = True) -> list[PairExample]:
    """ClinicalSTS (``sentence1<TAB>sentence2<TAB>score``, no header; test files may lack the
    score) or BIOSSES (header with ``sentence1``, ``sentence2`` and ``mean_score``)."""
    lines = read_text_file(path).splitlines()
    header = lines[0].split("\t") if lines else []
    if "sentence1" in header and "sentence2" in header:
        return _read_headed_tsv(path, lines, header, require_label)
    examples = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) not in (2, 3) or (require_label and len(cols) != 3):
            raise InputError(f"expected sentence1<TAB>sentence2<TAB>score, found {len(cols)} column(s)", str(path), n)
        label = _score(cols[2], path, n) if len(cols) == 3 and cols[2].strip() else None
        examples.append(PairExample(f"{path.stem}:{n}", cols[0].strip(), cols[1].strip(), label))
    return examples


def _read_headed_tsv(path: Path, lines: list[str], header: list[str], require_label: bool) -> list[PairExample]:
    score_col = next((c for c in ("mean_score", "score") if c in header), None)
    if score_col is None and require_label:
        raise InputError("the header names no mean_score or score column", str(path), 1)
    col = {name: i for i, name in enumerate(header)}
    examples = []
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != len(header):
            raise InputError(f"expected {len(header)} columns as in the header, found {len(cols)}", str(path), n)
        label = _score(cols[col[score_col]], path, n) if score_col else None
        ex_id = cols[col["id"]] if "id" in col else f"{path.stem}:{n}"
        examples.append(PairExample(ex_id, cols[col["sentence1"]].strip(), cols[col["sentence2"]].strip(), label))
    return examples


def read_pairs_jsonl(path: Path, kind: str, require_label: bool = True) -> list[PairExample]:
    """MedNLI JSONL (``sentence1``, ``sentence2``, ``gold_label``); ``label`` or ``score`` also
    name the label. MedNLI/SNLI rows whose gold label is ``-`` (no consensus) are skipped."""
    examples = []
    for n, line in enumerate(read_text_file(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", str(path), n) from None
        if not isinstance(row, dict) or not isinstance(row.get("sentence1"), str) or not isinstance(row.get("sentence2"), str):
            raise InputError("a row needs string fields sentence1 and sentence2", str(path), n)
        raw = next((row[k] for k in ("gold_label", "label", "score") if row.get(k) is not None), None)
        if raw == "-":
            continue
        if raw is None and require_label:
            raise InputError("a row needs a gold_label (or label/score)", str(path), n)
        label: Label = None
        if raw is not None:
            label = _score(str(raw), path, n) if kind == "sts" else str(raw)
        ex_id = str(row.get("pairID") or row.get("id") or f"{path.stem}:{n}")
        examples.append(PairExample(ex_id, row["sentence1"], row["sentence2"], label))
    return examples


def read_rqe_xml(path: Path) -> list[PairExample]:
    """RQE (``<pair pid value="true|false"><chq>..</chq><faq>..</faq></pair>``): does answering
    the FAQ answer the consumer question? ``value`` is the label."""
    examples: list[PairExample] = []
    state: dict = {}
    parser = expat.ParserCreate()

    def start(name: str, attrs: dict) -> None:
        if name == "pair":
            state.clear()
            state.update(line=parser.CurrentLineNumber, attrs=attrs, text={})
        elif name in ("chq", "faq") and state:
            state["field"], state["text"][name] = name, ""

    def end(name: str) -> None:
        if name in ("chq", "faq"):
            state.pop("field", None)
        elif name == "pair":
            line, attrs, text = state["line"], state["attrs"], state["text"]
            value = attrs.get("value", "").strip().lower()
            if value not in ("true", "false"):
                raise InputError(f"pair value must be true or false, found {attrs.get('value')!r}", str(path), line)
            if "chq" not in text or "faq" not in text:
                # an empty element is kept (the official train file has one empty <faq>, pid 5860)
                raise InputError("a pair needs a <chq> and a <faq>", str(path), line)
            pid = attrs.get("pid") or str(len(examples) + 1)
            examples.append(PairExample(pid, " ".join(text["chq"].split()), " ".join(text["faq"].split()), value))
            state.clear()

    def chars(data: str) -> None:
        if "field" in state:
            state["text"][state["field"]] += data

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, chars
    try:
        parser.Parse(path.read_bytes(), True)
    except expat.ExpatError as exc:
        raise InputError(f"malformed XML: {expat.errors.messages[exc.code]}", str(path), exc.lineno) from None
    return examples


def read_pubmedqa_json(path: Path, require_label: bool = True) -> list[PairExample]:
    """PubMedQA ``ori_pqal.json``: ``{pmid: {QUESTION, CONTEXTS: [...], final_decision}}``.
    The question is text A and the abstract (its context paragraphs, without the long answer:
    the reasoning-required setting) is text B."""
    raw, data = load_json(path)
    if not isinstance(data, dict):
        raise InputError("expected a JSON object of PMID -> question record (ori_pqal.json)", str(path), 1)
    examples = []
    for pmid, rec in data.items():
        line = line_of(raw, pmid)
        if not isinstance(rec, dict) or not isinstance(rec.get("QUESTION"), str) or not isinstance(rec.get("CONTEXTS"), list):
            raise InputError(f"record {pmid} needs QUESTION (string) and CONTEXTS (list)", str(path), line)
        label = rec.get("final_decision")
        if label is None and require_label:
            raise InputError(f"record {pmid} has no final_decision", str(path), line)
        if label is not None and label not in PUBMEDQA_LABELS:
            raise InputError(f"record {pmid}: final_decision {label!r} is not yes, no or maybe", str(path), line)
        examples.append(PairExample(str(pmid), rec["QUESTION"], " ".join(map(str, rec["CONTEXTS"])), label))
    return examples


def pubmedqa_long_answers(path: str | Path, examples: Sequence[PairExample]) -> list[PairExample]:
    """Extra training pairs for ``examples`` from PubMedQA's ``ori_pqal.json``: the question with
    its long answer (the abstract's conclusion) instead of the abstract, same label, id
    ``PMID#long`` (the paper's reasoning-free setting, used here as more supervision). The
    conclusion states what the context only implies; dev and test keep the abstract."""
    p = Path(path)
    raw, data = load_json(p)
    if not isinstance(data, dict):
        raise InputError("expected a JSON object of PMID -> question record (ori_pqal.json)", str(p), 1)
    out = []
    for ex in examples:
        rec = data.get(ex.id)
        if not isinstance(rec, dict):
            raise InputError(f"--long-answers: question {ex.id} is not in this file", str(p))
        long = rec.get("LONG_ANSWER")
        if not isinstance(long, str) or not long.strip():
            raise InputError(f"record {ex.id} has no LONG_ANSWER (needed by --long-answers)", str(p), line_of(raw, ex.id))
        out.append(PairExample(f"{ex.id}#long", ex.text_a, long, ex.label))
    return out


def read_ids(path: str | Path) -> list[str]:
    """Example ids from a JSON object (keys: PubMedQA's ``test_ground_truth.json``), a JSON list,
    or a text file with one id a line."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", str(p))
    text = read_text_file(p)
    if text.lstrip().startswith(("{", "[")):
        _, data = load_json(p)
        return [str(k) for k in data]
    return [line.strip() for line in text.splitlines() if line.strip()]


def select(examples: Iterable[PairExample], keep: Iterable[str] | None = None, drop: Iterable[str] | None = None) -> list[PairExample]:
    """Examples whose id is in ``keep`` (when given) and not in ``drop``."""
    keep_set = set(keep) if keep is not None else None
    drop_set = set(drop or ())
    return [e for e in examples if (keep_set is None or e.id in keep_set) and e.id not in drop_set]
