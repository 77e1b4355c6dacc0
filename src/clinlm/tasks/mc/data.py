"""Multiple-choice questions: MMLU CSV and MedConceptsQA's published CSV layout."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from clinlm.errors import InputError
from clinlm.formats import read_text_file

LETTERS = "ABCDEFGHIJ"
MEDCONCEPTS_COLUMNS = ("question_id", "answer", "answer_id", "option1", "option2", "option3", "option4", "question")
ANSWER_COLUMNS = {"answer", "answer_id"}
_OPTION_LINE = re.compile(r"^\s*[A-D][.):-]\s")


@dataclass(frozen=True)
class McQuestion:
    id: str
    question: str
    options: tuple[str, ...]
    answer: int | None  # index into options (None: unanswered, for prediction)


def read_mc(path: str | Path, require_answer: bool = True) -> list[McQuestion]:
    """Questions from a CSV file or every ``*.csv`` in a directory (sorted): MedConceptsQA
    when the header names its columns, else MMLU (question, A, B, C, D, answer letter).
    Without ``require_answer`` (prediction) the answer may be left out: MMLU rows of 5 fields,
    MedConceptsQA without its answer columns."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.csv"))
        if not files:
            raise InputError("no .csv files in this directory", str(p))
        return [q for f in files for q in read_mc(f, require_answer)]
    if not p.is_file():
        raise InputError("no such file", str(p))
    rows = list(_rows(p))
    if not rows:
        raise InputError("no questions in this file", str(p))
    header = set(rows[0][1])
    if set(MEDCONCEPTS_COLUMNS) - ANSWER_COLUMNS <= header:
        if require_answer and not ANSWER_COLUMNS <= header:
            raise InputError("this MedConceptsQA header has no answer and answer_id columns; scoring needs them", str(p), rows[0][0])
        return _medconcepts(p, rows)
    return [_mmlu(p, n, row, require_answer) for n, row in rows]


def _rows(p: Path):
    """``(first line, fields)`` of each CSV record (a record may span lines)."""
    reader = csv.reader(io.StringIO(read_text_file(p), newline=""))
    line = 1
    for row in reader:
        if row:
            yield line, row
        line = reader.line_num + 1


def _mmlu(p: Path, n: int, row: list[str], require_answer: bool = True) -> McQuestion:
    if len(row) == 5 and not require_answer:
        return McQuestion(f"{p.stem}:{n}", row[0], tuple(row[1:5]), None)
    if len(row) != 6:
        fields = "6 fields (question, A, B, C, D, answer)" + ("" if require_answer else " or 5 (no answer)")
        raise InputError(f"expected {fields}, found {len(row)}", str(p), n)
    letter = row[5].strip().upper()
    if letter not in "ABCD" or len(letter) != 1:
        raise InputError(f"answer must be A, B, C or D, found {row[5]!r}", str(p), n)
    return McQuestion(f"{p.stem}:{n}", row[0], tuple(row[1:5]), "ABCD".index(letter))


def _medconcepts(p: Path, rows: list[tuple[int, list[str]]]) -> list[McQuestion]:
    header = rows[0][1]
    col = {name: i for i, name in enumerate(header)}
    out = []
    for n, row in rows[1:]:
        if len(row) != len(header):
            raise InputError(f"expected {len(header)} fields as in the header, found {len(row)}", str(p), n)
        options = tuple(row[col[f"option{i}"]] for i in range(1, 5))
        given = "answer_id" in col and "answer" in col
        answer = _medconcepts_answer(row[col["answer_id"]], row[col["answer"]], options) if given else None
        if answer is None and given:
            raise InputError(f"answer_id {row[col['answer_id']]!r} names none of the four options", str(p), n)
        # the published question repeats the options as "A. ..." lines: keep only the stem
        stem = "\n".join(l for l in row[col["question"]].splitlines() if not _OPTION_LINE.match(l)).strip()
        out.append(McQuestion(row[col["question_id"]] or f"{p.stem}:{n}", stem, options, answer))
    return out


def _medconcepts_answer(answer_id: str, answer: str, options: tuple[str, ...]) -> int | None:
    key = answer_id.strip().upper()
    if len(key) == 1 and key in "ABCD":
        return "ABCD".index(key)
    if key in ("1", "2", "3", "4"):
        return int(key) - 1
    return options.index(answer) if answer in options else None
