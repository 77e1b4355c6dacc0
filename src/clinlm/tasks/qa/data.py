"""Extractive QA examples from SQuAD JSON (the layout emrQA is distributed in).

Answers are character offsets into the context; the reader checks that each
``context[answer_start:answer_start + len(text)] == text``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from clinlm.errors import InputError, OffsetError
from clinlm.tasks.pair.data import line_of, load_json


@dataclass(frozen=True)
class Answer:
    start: int
    text: str

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class QaExample:
    id: str
    question: str
    context: str
    answers: tuple[Answer, ...] = field(default=())


def read_squad(path: str | Path, require_answers: bool = True) -> list[QaExample]:
    """Every question of a SQuAD v1 file (``data -> paragraphs -> qas``)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", str(p))
    raw, data = load_json(p)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputError('expected SQuAD JSON: {"data": [{"paragraphs": [...]}]}', str(p), 1)
    examples = []
    for article in data["data"]:
        for para in article.get("paragraphs", []) if isinstance(article, dict) else []:
            context = para.get("context")
            if not isinstance(context, str):
                raise InputError("a paragraph has no context string", str(p))
            for qa in para.get("qas", []):
                examples.append(_example(qa, context, raw, p, require_answers))
    if not examples:
        raise InputError("no questions in this file", str(p))
    return examples


def _example(qa: dict, context: str, raw: str, p: Path, require_answers: bool) -> QaExample:
    qid = str(qa.get("id", ""))
    line = line_of(raw, qid) if qid else None
    if not qid or not isinstance(qa.get("question"), str):
        raise InputError("a question needs an id and a question string", str(p), line)
    answers = []
    for a in qa.get("answers", []):
        start, text = a.get("answer_start"), a.get("text")
        if not isinstance(start, int) or not isinstance(text, str) or not text:
            raise InputError(f"question {qid}: an answer needs answer_start (int) and non-empty text", str(p), line)
        if context[start : start + len(text)] != text:
            found = context[start : start + len(text)]
            raise OffsetError(f"question {qid}: answer {text!r} is not at offset {start} (found {found!r})", str(p), line)
        answers.append(Answer(start, text))
    if require_answers and not answers:
        raise InputError(f"question {qid} has no answer", str(p), line)
    return QaExample(qid, qa["question"], context, tuple(answers))
