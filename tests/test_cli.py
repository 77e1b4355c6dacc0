"""The command line as a user runs it: train, evaluate, annotate, and bad input."""
from __future__ import annotations

import json

import pytest
from cli_runner import clinlm

from clinlm.document import Document
from clinlm.formats import read_documents, write_documents

NOTE = "The patient denies chest pain and fever. Mother had cancer."




@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_bert):
    """Train a tiny model through the CLI once; the tests below use it."""
    wd = tmp_path_factory.mktemp("cli")
    docs = []
    for i in range(16):
        d = Document(f"n{i}", NOTE)
        d.add(19, 29, "T033")
        d.add(34, 39, "T033")
        d.add(52, 58, "T191")
        docs.append(d)
    write_documents(docs, wd / "train.jsonl", "jsonl")
    write_documents(docs[:3], wd / "dev.jsonl", "jsonl")
    r = clinlm("train", "ner", "--model", tiny_bert, "--train", wd / "train.jsonl", "--dev", wd / "dev.jsonl",
               "--output", wd / "model", "--epochs", "40", "--lr", "3e-3", "--batch-size", "8", "--max-length", "24", "--stride", "8")
    assert r.returncode == 0, r.stderr.decode()
    return wd


@pytest.mark.slow
def test_train_writes_checkpoint_and_evaluate_reports_strict_and_default(workdir):
    man = json.loads((workdir / "model" / "clinlm.json").read_text())
    assert man["train_data"]["fingerprint"].startswith("sha256:") and man["stride"] == 8
    # dev chose whether to give one type per repeated term: on only if it scored higher
    dev_f1 = man["consistent_types_dev_strict_f1"]
    assert man["consistent_types"] == (dev_f1["on"] > dev_f1["off"]) and set(dev_f1) == {"off", "on"}
    # and counted the training terms into a type lexicon whose weight dev chose (0: none)
    lex = man["type_lexicon"]
    assert set(lex["terms"].values()) <= {"T033:16", "T191:16"} and len(lex["terms"]) >= 2
    assert lex["dev_strict_f1"][f"{lex['weight']:g}/{lex['alpha']:g}"] == max(lex["dev_strict_f1"].values())
    r = clinlm("evaluate", "ner", "--model", workdir / "model", "--data", workdir / "dev.jsonl", "--json")
    assert r.returncode == 0, r.stderr.decode()
    res = json.loads(r.stdout)
    assert res["strict"]["f1"] == 1.0 and res["default"]["f1"] == 1.0 and res["span_exact"]["f1"] == 1.0
    assert set(res["strict"]["per_type"]) == {"T033", "T191"}
    card = json.loads(clinlm("evaluate", "ner", "--model", workdir / "model", "--data", workdir / "dev.jsonl",
                             "--json", "--protocol", "model-card").stdout)
    assert card["protocol"] == "model-card" and "strict" not in card and card["default"]["f1"] == 1.0
    table = clinlm("evaluate", "ner", "--model", workdir / "model", "--data", workdir / "dev.jsonl")
    assert b"seqeval strict" in table.stdout and b"char span exact" in table.stdout


def test_annotate_files_dirs_and_stdin_to_jsonl(workdir, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_bytes(NOTE.replace(". ", ".\r\n").encode())
    (notes / "b.txt").write_text("  \n")
    out = tmp_path / "out.jsonl"
    r = clinlm("annotate", notes, "-", "--model", workdir / "model", "--format", "jsonl", "--output", out, stdin=b"fever")
    assert r.returncode == 0, r.stderr.decode()
    docs = {d.id: d for d in read_documents(out)}
    assert set(docs) == {"a", "b", "stdin"}
    assert "\r\n" in docs["a"].text and [e.text for e in docs["a"].entities] == ["chest pain", "fever", "cancer"]
    assert docs["b"].entities == []


def test_annotate_table_names_types(workdir, tmp_path):
    f = tmp_path / "n.txt"
    f.write_text(NOTE)
    r = clinlm("annotate", f, "--model", workdir / "model")
    assert r.returncode == 0 and b"chest pain" in r.stdout and b"Finding" in r.stdout  # T033's name


@pytest.mark.parametrize(
    "setup,expected",
    [
        (lambda p: p.write_bytes(b"ok\n\xff\xfe bad"), "not valid UTF-8"),
        (lambda p: None, "no such file"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_overwritten(workdir, tmp_path, setup, expected):
    bad = tmp_path / "bad.txt"
    setup(bad)
    out = tmp_path / "out.jsonl"
    out.write_text("previous results\n")
    r = clinlm("annotate", bad, "--model", workdir / "model", "--format", "jsonl", "--output", out)
    assert r.returncode == 2
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and expected in lines[0] and "Traceback" not in lines[0]
    assert out.read_text() == "previous results\n"


def test_missing_and_wrong_model(tmp_path, tiny_bert):
    f = tmp_path / "n.txt"
    f.write_text(NOTE)
    r = clinlm("annotate", f, "--model", tmp_path / "missing")
    assert r.returncode == 2 and b"model directory not found" in r.stderr and b"Traceback" not in r.stderr
    r = clinlm("annotate", f, "--model", tiny_bert)
    assert r.returncode == 2 and b"not a token-classification" in r.stderr


def test_gold_offsets_that_do_not_match_are_reported(workdir, tmp_path):
    bad = tmp_path / "gold.jsonl"
    bad.write_text(json.dumps({"id": "x", "text": "chest pain", "entities": [
        {"start": 0, "end": 5, "label": "T033", "text": "chest"}, {"start": 6, "end": 10, "label": "T033", "text": "PAIN"}]}) + "\n")
    r = clinlm("evaluate", "ner", "--model", workdir / "model", "--data", bad)
    msg = r.stderr.decode().strip()
    assert r.returncode == 2 and f"{bad}:1" in msg and "1 entity" in msg and len(msg.splitlines()) == 1
