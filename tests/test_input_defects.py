"""Defects a new user hit with bad input: each is a one-line error now (or no longer loses data).

Empty gold data, a model without (safetensors) weights, a PubTator mention line without its
types, a brat folder without .ann files, a .txt that is not PubTator, nested document ids in
brat output, and temporary files (note text) left behind by a killed write.
"""
from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinlm.document import Document, Entity
from clinlm.errors import InputError, ModelError
from clinlm.formats import brat, read_documents, write_documents
from clinlm.formats.files import atomic_write_text
from clinlm.tasks.ner.task import NerTask
from clinlm.tasks.relation.task import read_relation_documents

SETTINGS = settings(max_examples=int(os.environ.get("CLINLM_HYPOTHESIS_EXAMPLES", "30")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
NOTE = "The patient denies chest pain and fever."
SRC = Path(__file__).resolve().parents[1] / "src" / "clinlm"


def clinlm(*args) -> subprocess.CompletedProcess:
    """The command line in its own process, as a user runs it (a traceback would show here)."""
    return subprocess.run([sys.executable, "-m", "clinlm", *map(str, args)], capture_output=True, text=True)


def one_line_error(r: subprocess.CompletedProcess) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def fresh(tmp_path: Path) -> Path:
    """A new empty folder per hypothesis example (tmp_path is shared by all of them)."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


@pytest.fixture(scope="module")
def ner_model(tiny_bert, tmp_path_factory) -> Path:
    """A tiny (untrained) token classifier saved as clinlm saves one."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    labels = ["O", "B-T033", "I-T033"]
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_bert, num_labels=3, id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    out = tmp_path_factory.mktemp("ner-model")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(out)
    (out / "clinlm.json").write_text(json.dumps({"task": "ner", "max_length": 64, "stride": 16}))
    return out


# --- 1. gold or training data without documents ----------------------------------------------

WHITESPACE = st.tuples(st.sampled_from(["", "\ufeff"]), st.text(" \t\r\n", max_size=12)).map("".join)


@SETTINGS
@given(content=WHITESPACE, suffix=st.sampled_from([".jsonl", ".conll", ".pubtator", ".bio", ".txt", ".jsonl.gz"]))
def test_gold_data_without_documents_is_an_error_naming_the_file(tmp_path, content, suffix):
    path = fresh(tmp_path) / f"gold{suffix}"
    if suffix.endswith(".gz"):
        import gzip

        path.write_bytes(gzip.compress(content.encode()))
    else:
        path.write_text(content, encoding="utf-8", newline="")
    with pytest.raises(InputError, match=re.escape(f"{path}: no documents in this file")):
        NerTask().read(path)
    with pytest.raises(InputError, match=re.escape(f"{path}: no documents in this file")):
        read_relation_documents(path)
    assert read_documents(path) == []  # reading documents in general: an empty file is an empty collection


def test_empty_brat_folder_and_relation_data_are_errors(tmp_path):
    with pytest.raises(InputError, match=re.escape(f"{tmp_path}: no documents in this folder")):
        NerTask().read(tmp_path)
    (tmp_path / "c.jsonl").write_text("")
    for fmt in ("chemprot", "jsonl"):
        with pytest.raises(InputError, match="no documents in this file"):
            read_relation_documents(tmp_path / "c.jsonl", fmt)


@pytest.mark.parametrize("name,content,expected", [
    ("empty.jsonl", "", "no documents in this file"),
    ("empty.conll", "\n\n", "no documents in this file"),
    ("empty.pubtator", "", "no documents in this file"),
    ("four.pubtator", f"1|t|{NOTE}\n1\t19\t29\tchest pain\n", ":2: mention line with 4 columns"),  # item 3
    ("note.txt", NOTE + "\n", "looks like plain text"),  # item 4
    ("brat", None, "no a.ann beside this text file"),  # item 3
])
def test_evaluate_refuses_data_that_cannot_be_gold(ner_model, tmp_path, name, content, expected):
    data = tmp_path / name
    if content is None:
        data.mkdir()
        (data / "a.txt").write_text(NOTE)
        (data / "b.txt").write_text(NOTE)
        (data / "b.ann").write_text("")
    else:
        data.write_text(content)
    msg = one_line_error(clinlm("evaluate", "ner", "--model", ner_model, "--data", data, "--json"))
    assert expected in msg and str(data) in msg


def test_training_data_without_entities_is_refused(tiny_bert):
    with pytest.raises(InputError, match="no entities"):
        NerTask().build(str(tiny_bert), [Document("1", NOTE)])


# --- 2. a model directory without safetensors weights ----------------------------------------

@pytest.fixture(scope="module")
def broken_models(ner_model, tmp_path_factory) -> dict[str, Path]:
    """The tiny model with no weights at all, and with pickled weights only."""
    import shutil

    import torch
    from safetensors.torch import load_file

    root = tmp_path_factory.mktemp("broken-models")
    out = {}
    for kind in ("none", "pickle"):
        d = root / kind
        shutil.copytree(ner_model, d)
        (d / "model.safetensors").unlink()
        if kind == "pickle":
            torch.save(load_file(str(ner_model / "model.safetensors")), d / "pytorch_model.bin")
        out[kind] = d
    return out


def test_model_without_weights_is_one_line(broken_models, tmp_path):
    import clinlm as api

    d = broken_models["none"]
    with pytest.raises(ModelError, match=re.escape(f"{d}: no model weights here") + ".*safetensors weights only"):
        api.load(d)
    note = tmp_path / "n.txt"
    note.write_text(NOTE)
    msg = one_line_error(clinlm("annotate", note, "--model", d))
    assert "no model weights" in msg and "model.safetensors" in msg


def test_pickled_weights_are_refused_in_one_line_saying_how_to_convert(broken_models, tmp_path):
    import clinlm as api

    d = broken_models["pickle"]
    with pytest.raises(ModelError, match=re.escape(f"{d / 'pytorch_model.bin'}: clinlm loads safetensors weights only")):
        api.load(d)
    note = tmp_path / "n.txt"
    note.write_text(NOTE)
    msg = one_line_error(clinlm("annotate", note, "--model", d))
    assert "pytorch_model.bin" in msg and "save_pretrained" in msg and "safe_serialization=True" in msg


def test_every_weight_load_asks_for_safetensors():
    """Model weights are loaded only through runtime.loading.load_pretrained (use_safetensors=True)."""
    from clinlm.runtime.loading import load_pretrained

    calls = []

    class Fake:
        @classmethod
        def from_pretrained(cls, path, **kwargs):
            calls.append(kwargs)
            return "model"

    assert load_pretrained(Fake, "some/hub-id", config=None) == "model" and calls == [{"use_safetensors": True, "config": None}]
    direct = re.compile(r"\bAuto\w*Model\w*\.from_pretrained\(")
    offenders = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py") if p.name != "loading.py"
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if direct.search(line)]
    assert offenders == []


# --- 3. silent data loss: PubTator mention lines without types, brat text without .ann --------

@st.composite
def pubtator_mentions(draw):
    title = draw(st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="|\t"), min_size=1, max_size=30))
    start = draw(st.integers(0, len(title) - 1))
    end = draw(st.integers(start + 1, len(title)))
    return title, start, end


@SETTINGS
@given(case=pubtator_mentions(), blank_lines=st.integers(0, 3))
def test_pubtator_mention_line_with_four_columns_is_an_error(tmp_path, case, blank_lines):
    title, start, end = case
    path = fresh(tmp_path) / "m.pubtator"
    head = "\n" * blank_lines + f"7|t|{title}\n"
    line = blank_lines + 2
    mention = f"7\t{start}\t{end}\t{title[start:end]}"
    path.write_text(head + mention + "\tT033\n", encoding="utf-8", newline="")
    assert [e.span for e in read_documents(path)[0].entities] == [(start, end)]  # 5 columns: fine
    path.write_text(head + mention + "\n", encoding="utf-8", newline="")
    with pytest.raises(InputError, match=re.escape(f"{path}:{line}: mention line with 4 columns")):
        read_documents(path)
    path.write_text(head + "7\tCID\tD1\tD2\n", encoding="utf-8", newline="")  # a relation line stays one
    assert read_documents(path)[0].metadata["pubtator_relations"] == [["CID", "D1", "D2"]]


@SETTINGS
@given(annotated=st.lists(st.booleans(), min_size=1, max_size=5), nested=st.booleans())
def test_brat_gold_needs_an_ann_per_txt(tmp_path, annotated, nested):
    root = fresh(tmp_path)
    folder = root / "sub" if nested else root
    folder.mkdir(exist_ok=True)
    for i, has_ann in enumerate(annotated):
        (folder / f"n{i}.txt").write_text(NOTE)
        if has_ann:
            (folder / f"n{i}.ann").write_text("T1\tT033 19 29\tchest pain\n")
    lone = [i for i, has in enumerate(annotated) if not has]
    if lone:
        with pytest.raises(InputError, match=re.escape(f"{folder / f'n{lone[0]}.txt'}: no n{lone[0]}.ann beside")):
            NerTask().read(root)
    else:
        docs = NerTask().read(root)
        assert [e.text for d in docs for e in d.entities] == ["chest pain"] * len(annotated)
    # read as documents (not gold), text without annotations is still a document
    assert len(read_documents(root)) == len(annotated)


# --- 4. a .txt that is not PubTator ---------------------------------------------------------

PLAIN_LINE = st.text(st.sampled_from("abcdefghij klmnop.,;:()0123456789\u00e9\u4e2d"), min_size=1, max_size=40).filter(str.strip)


@SETTINGS
@given(lines=st.lists(PLAIN_LINE, min_size=1, max_size=6), crlf=st.booleans())
def test_txt_that_is_not_pubtator_says_what_it_looks_like(tmp_path, lines, crlf):
    folder = fresh(tmp_path)
    nl = "\r\n" if crlf else "\n"
    note = folder / "note.txt"
    note.write_text(nl.join(lines) + nl, encoding="utf-8", newline="")
    with pytest.raises(InputError, match=re.escape(f"{note}: ") + ".*looks like plain text.*note\\.ann beside it"):
        NerTask().read(note)
    jsonish = folder / "docs.txt"
    jsonish.write_text("\n".join(json.dumps({"id": str(i), "text": t}) for i, t in enumerate(lines)) + "\n")
    with pytest.raises(InputError, match="looks like JSONL.*name it .jsonl"):
        read_documents(jsonish)
    conllish = folder / "tags.txt"
    conllish.write_text("".join(f"{w}\tO\n" for t in lines for w in t.split()) or "x\tO\n")
    with pytest.raises(InputError, match="looks like CoNLL.*name it .conll"):
        read_documents(conllish)
    (folder / "note.ann").write_text("")  # with its .ann beside it, the .txt is brat
    assert read_documents(note)[0].text == nl.join(lines) + nl


# --- 5. brat output of nested document ids ----------------------------------------------------

PART = st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True)
NESTED_IDS = st.lists(st.lists(PART, min_size=1, max_size=3).map("/".join), min_size=1, max_size=5, unique=True)


@SETTINGS
@given(ids=NESTED_IDS, text=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20))
def test_brat_nested_ids_are_mirrored_as_folders_and_read_back(tmp_path, ids, text):
    out = fresh(tmp_path) / "brat"
    docs = [Document(i, text, [Entity(0, 1, "T033", text[0])]) for i in ids]
    brat.write(docs, out)
    back = {d.id: d for d in brat.read(out)}
    assert set(back) == set(ids)
    assert all(back[i].text == text and back[i].entities == docs[0].entities for i in ids)
    assert all((out / f"{i}.txt").is_file() and (out / f"{i}.ann").is_file() for i in ids)
    brat.write(docs[:1], out)  # into the existing folder: replaced, the others kept
    assert set(d.id for d in brat.read(out)) == set(ids)


def test_brat_refuses_ids_that_are_no_safe_path_or_collide(tmp_path):
    for bad in ["../x", "a//b", "/abs", "a/.hidden", "a/./b", "a\\b", "a/"]:
        with pytest.raises(InputError, match="cannot be a brat file name"):
            brat.write([Document(bad, "x")], tmp_path / "out")
    with pytest.raises(InputError, match="collides"):
        brat.write([Document("a", "x"), Document("a.txt/b", "y")], tmp_path / "out")
    assert os.listdir(tmp_path) == []  # nothing written, no temporary folder left


def test_annotate_nested_folder_to_brat(ner_model, tmp_path):
    notes = tmp_path / "notes"
    (notes / "sub" / "deep").mkdir(parents=True)
    (notes / "top.txt").write_text(NOTE)
    (notes / "sub" / "deep" / "n1.txt").write_text("fever\r\ntoday")
    out = tmp_path / "out"
    r = clinlm("annotate", notes, "--model", ner_model, "--format", "brat", "--output", out, "--no-context")
    assert r.returncode == 0, r.stderr
    assert (out / "sub" / "deep" / "n1.txt").read_bytes() == b"fever\r\ntoday" and (out / "top.ann").is_file()
    back = {d.id: d.text for d in brat.read(out)}
    assert back == {"top": NOTE, "sub/deep/n1": "fever\r\ntoday"}


# --- 6. temporary files with note text --------------------------------------------------------

SLOW_WRITER = r"""
import sys, time
from clinlm.document import Document
from clinlm.formats import brat
from clinlm.formats.files import atomic_write_text

def chunks():
    yield "secret note text\n" * 1000
    print("writing", flush=True)
    while True:
        time.sleep(0.01)
        yield "more note text\n" * 100

def docs():
    for i in range(10**6):
        if i == 3:
            print("writing", flush=True)
        time.sleep(0.01)
        yield Document(f"n{i}", "secret note text")

atomic_write_text(sys.argv[1], chunks()) if sys.argv[2] == "text" else brat.write(docs(), sys.argv[1])
"""


def _start_slow_writer(out: Path, kind: str) -> subprocess.Popen:
    """A process writing note text to ``out`` slowly; returns once it is mid-write."""
    p = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(out), kind], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "writing\n"
    return p


@pytest.mark.parametrize("kind", ["text", "brat"])
def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path, kind):
    out = tmp_path / ("out.txt" if kind == "text" else "out")
    if kind == "text":
        out.write_text("OLD")
    p = _start_slow_writer(out, kind)
    try:
        temps = [n for n in os.listdir(tmp_path) if n != out.name]
        modes = [stat.S_IMODE(os.stat(tmp_path / n).st_mode) for n in temps]
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 143
    finally:
        p.kill()
        p.wait()
    assert os.listdir(tmp_path) == ([out.name] if kind == "text" else [])  # the temporary file is gone
    if kind == "text":
        assert out.read_text() == "OLD"
    # while it was there: private, and named so that a later run can tell whose it was
    assert len(temps) == 1 and re.fullmatch(rf"\.{out.name}\.clinlm-{p.pid}-[0-9a-f]{{8}}-\w+\.tmp", temps[0])
    assert modes == [0o600 if kind == "text" else 0o700]


def test_previous_sigterm_handler_is_restored(tmp_path):
    atomic_write_text(tmp_path / "a.txt", ["x"])
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    mine = lambda signum, frame: None  # noqa: E731
    old = signal.signal(signal.SIGTERM, mine)
    try:
        atomic_write_text(tmp_path / "a.txt", ["y"])
        assert signal.getsignal(signal.SIGTERM) is mine  # a program's own handler is left alone
    finally:
        signal.signal(signal.SIGTERM, old)


@pytest.mark.parametrize("kind,fmt,name", [("text", "jsonl", "o.jsonl"), ("brat", "brat", "o_brat")])
def test_temporary_file_left_by_sigkill_is_removed_by_the_next_write(tmp_path, kind, fmt, name):
    p = _start_slow_writer(tmp_path / name, kind)
    p.kill()  # SIGKILL: no handler runs, the temporary file stays
    p.wait()
    (left,) = os.listdir(tmp_path)
    assert f".clinlm-{p.pid}-" in left
    host = left.split(f".clinlm-{p.pid}-")[1][:8]
    keep = [tmp_path / f".{name}.clinlm-{os.getppid()}-{host}-live0001.tmp",  # its process still runs
            tmp_path / f".{name}.clinlm-{p.pid}-{'0' if host[0] != '0' else '1'}{host[1:]}-elsewhere.tmp",  # another machine's
            tmp_path / f".{name}.other-{p.pid}.tmp"]  # not clinlm's
    for k in keep:
        k.write_text("x")
    write_documents([Document("1", NOTE)], tmp_path / name, fmt)
    assert not (tmp_path / left).exists() and (tmp_path / name).exists()
    assert all(k.exists() for k in keep)


@SETTINGS
@given(mode=st.integers(0, 0o777).map(lambda m: m | 0o600), content=st.text(max_size=30))
def test_replaced_file_keeps_its_mode(tmp_path, mode, content):
    folder = fresh(tmp_path)
    out = folder / "o.jsonl"
    out.write_text(content)
    os.chmod(out, mode)
    write_documents([Document("1", NOTE)], out, "jsonl")
    assert stat.S_IMODE(out.stat().st_mode) == mode and read_documents(out)[0].text == NOTE
    bdir = folder / "b"
    write_documents([Document("1", content or "x")], bdir, "brat")
    os.chmod(bdir / "1.ann", mode)
    write_documents([Document("1", NOTE)], bdir, "brat")
    assert stat.S_IMODE((bdir / "1.ann").stat().st_mode) == mode and (bdir / "1.txt").read_text() == NOTE


def test_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        write_documents([Document("1", NOTE)], tmp_path / "n.jsonl", "jsonl")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "n.jsonl").stat().st_mode) == 0o640


def test_symlink_target_is_refused_not_cut(tmp_path):
    target = tmp_path / "real.jsonl"
    target.write_text("OLD\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    with pytest.raises(InputError, match=re.escape(f"{link}: will not replace a symbolic link")):
        write_documents([Document("1", NOTE)], link, "jsonl")
    assert link.is_symlink() and target.read_text() == "OLD\n"
    out = tmp_path / "brat"
    write_documents([Document("a", NOTE), Document("b", NOTE)], out, "brat")
    (out / "b.ann").unlink()
    (out / "b.ann").symlink_to(target)
    before = (out / "a.ann").read_bytes()
    with pytest.raises(InputError, match="symbolic link"):
        write_documents([Document("a", "changed"), Document("b", "changed")], out, "brat")
    assert (out / "a.ann").read_bytes() == before and (out / "a.txt").read_text() == NOTE  # nothing moved
    assert (out / "b.ann").is_symlink() and target.read_text() == "OLD\n"
    assert sorted(os.listdir(tmp_path)) == ["brat", "link.jsonl", "real.jsonl"]

