"""Defects a new user hit on the command line: help that crashed or showed typer's placeholders,
rich markup in file names, late or missing checks of --output, --batch-size, --record and
--format pubtator, brat's discontinuous spans, no progress inside a long note, and transformers'
"Loading weights" bar from ``clinlm.load``."""
from __future__ import annotations

import io
import json
import re
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest
import typer.main
from typer.testing import CliRunner

import clinlm
from clinlm.cli.main import app
from clinlm.document import Document
from clinlm.formats import read_documents, write_documents

NOTE = "The patient denies chest pain and fever."
SHIPPED_MODEL = Path(clinlm.__file__).resolve().parent / "models" / "default"


def run(*args) -> tuple[int, str, str]:
    """``clinlm ARGS`` in this process through the entry point (so a ClinlmError is ``error: ...``, exit 2)."""
    from clinlm.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with mock.patch.object(sys, "argv", ["clinlm", *map(str, args)]), redirect_stdout(out), redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def one_line_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, (code, err)
    return lines[0]


def commands() -> list[tuple[list[str], object]]:
    """Every leaf command of the click tree, with its path (``["train", "re"]``)."""
    found = []

    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, path + [name])
        else:
            found.append((path, cmd))

    walk(typer.main.get_command(app), [])
    return found


def all_helps() -> list[tuple[list[str], str | None]]:
    """Every command and group, the root included, with its help text."""
    found = []

    def walk(cmd, path):
        found.append((path, cmd.help))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, path + [name])

    walk(typer.main.get_command(app), [])
    return found


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def ner_dir(tiny_span_tagger) -> Path:
    return tiny_span_tagger


# -- 1. help renders for every command ------------------------------------------------------------
@pytest.mark.parametrize("path,help_text", all_helps(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_help_renders_for_every_command_and_group(path, help_text):
    r = CliRunner().invoke(app, path + ["--help"])
    assert r.exit_code == 0 and r.exception is None, r.output
    assert "Traceback" not in r.output and "MarkupError" not in r.output
    assert help_text and words(help_text) in words(r.output)


def test_relation_help_keeps_its_marker_examples():
    r = CliRunner().invoke(app, ["train", "re", "--help"])
    assert r.exit_code == 0 and "[E1:Drug] ... [/E1:Drug]" in words(r.output)


# -- 2. plain placeholders in help -----------------------------------------------------------------
TYPER_PLACEHOLDER = re.compile(r"<(?:str|int|float|bool|path|list\[[^\]]*\]|[a-z]+ range)>|\{[a-z_]+\}")


@pytest.mark.parametrize("path,help_text", all_helps(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_help_shows_no_typer_placeholders(path, help_text):
    r = CliRunner().invoke(app, path + ["--help"])
    assert TYPER_PLACEHOLDER.findall(r.output) == [], r.output


def test_annotate_and_evaluate_help_show_click_style_metavars():
    out = CliRunner().invoke(app, ["annotate", "--help"]).output
    assert "annotate [OPTIONS] INPUTS..." in out and "\n  INPUTS...  " in out
    assert "--batch-size INTEGER" in out and "-o, --output PATH" in out and "-m, --model TEXT" in out
    assert re.search(r"^  --replace-rules +The rule files", out, re.M)  # a flag shows no placeholder
    assert re.search(r"^  --help +Show this message", out, re.M)
    out = CliRunner().invoke(app, ["evaluate", "ner", "--help"]).output
    assert re.search(r"^  --json +Print", out, re.M) and "--discontinuous [error|merge]" in out
    assert "Missing argument 'INPUTS'" in CliRunner().invoke(app, ["annotate"]).output


# -- 3. every option has help ------------------------------------------------------------------------
def test_every_option_of_every_command_has_help():
    missing = [f"{' '.join(path)} {'/'.join(p.opts)}" for path, cmd in commands() for p in cmd.params
               if p.name != "help" and not (getattr(p, "help", None) or "").strip()]
    assert missing == []


def test_evaluate_ner_help_describes_its_window_and_runtime_options():
    out = words(CliRunner().invoke(app, ["evaluate", "ner", "--help"]).output)
    for text in ("--max-length INTEGER Window length", "--stride INTEGER Overlap between windows",
                 "--batch-size INTEGER Notes per batch", "--device TEXT auto, cpu or cuda",
                 "--precision TEXT auto (per CPU kind"):
        assert text in out


# -- 4. rich markup in user strings is printed as written ---------------------------------------------
def test_markup_in_a_file_name_is_printed_verbatim(ner_dir, tmp_path):
    note = tmp_path / "note[bold].txt"
    note.write_text(NOTE)
    output = tmp_path / "note[bold].jsonl"
    code, _, err = run("annotate", note, "--model", ner_dir, "--no-context", "--format", "jsonl", "--output", output)
    assert code == 0, err
    assert f"wrote 1 document(s) to {output}" in err
    assert [d.id for d in read_documents(output)] == ["note[bold]"]
    code, out, err = run("annotate", note, "--model", ner_dir, "--no-context")  # the table's title and cells
    assert code == 0 and "note[bold]: " in out and "chest" in out, err


def test_a_path_holding_a_closing_tag_works(ner_dir, tmp_path):
    folder = tmp_path / "x["  # with the file name below the path reads .../x[/]y...
    folder.mkdir()
    note = folder / "]y.txt"
    note.write_text(NOTE)
    output = folder / "]y.jsonl"
    code, _, err = run("annotate", note, "--model", ner_dir, "--no-context", "--format", "jsonl", "--output", output)
    assert code == 0 and "Traceback" not in err and "MarkupError" not in err, err
    assert "[/]" in str(output) and f"to {output}" in err and output.is_file()


def test_entity_text_with_markup_is_shown_in_the_table(ner_dir, tmp_path):
    note = tmp_path / "n.txt"
    note.write_text("pain [red] fever")
    code, out, err = run("annotate", note, "--model", ner_dir, "--no-context")
    assert code == 0 and "[red]" in out, err  # the entity is the whole note


# -- 5. --output and --batch-size are checked up front ------------------------------------------------
@pytest.mark.parametrize("format", ["jsonl", "pubtator", "conll", "bioc", "html"])
def test_output_directory_for_a_file_format_is_one_line_before_the_model_loads(tmp_path, format):
    note = tmp_path / "n.txt"
    note.write_text(NOTE)
    folder = tmp_path / "out"
    folder.mkdir()
    code, _, err = run("annotate", note, "--model", tmp_path / "no-such-model", "--format", format, "--output", folder)
    line = one_line_error(code, err)
    assert "directory" in line and "model directory not found" not in line and list(folder.iterdir()) == []


def test_brat_output_onto_a_file_is_refused_before_the_model_loads(tmp_path):
    note = tmp_path / "n.txt"
    note.write_text(NOTE)
    taken = tmp_path / "taken"
    taken.write_text("keep")
    code, _, err = run("annotate", note, "--model", tmp_path / "no-such-model", "--format", "brat", "--output", taken)
    assert "must be a directory" in one_line_error(code, err) and taken.read_text() == "keep"


def test_table_with_output_is_refused_before_the_model_loads(tmp_path):
    note = tmp_path / "n.txt"
    note.write_text(NOTE)
    output = tmp_path / "out.txt"
    code, _, err = run("annotate", note, "--model", tmp_path / "no-such-model", "--output", output)
    assert "--output needs a file format" in one_line_error(code, err) and not output.exists()


@pytest.mark.parametrize("size", ["0", "-3"])
def test_annotate_rejects_a_batch_size_below_one_before_writing(ner_dir, tmp_path, size):
    note = tmp_path / "n.txt"
    note.write_text(NOTE)
    output = tmp_path / "out.jsonl"
    code, _, err = run("annotate", note, "--model", ner_dir, "--format", "jsonl", "--output", output, "--batch-size", size)
    assert code == 2 and "Invalid value for '--batch-size'" in err and "Traceback" not in err, err
    assert not output.exists() and "wrote" not in err


@pytest.mark.parametrize("path", [p for p, cmd in commands() if any(q.name == "batch_size" for q in cmd.params)],
                         ids=" ".join)
def test_every_batch_size_option_rejects_zero(path):
    r = CliRunner().invoke(app, path + ["--batch-size", "0"])
    assert r.exit_code == 2 and "Invalid value for '--batch-size'" in r.output, r.output


def test_pipeline_refuses_a_batch_size_below_one(ner_dir):
    with pytest.raises(clinlm.ClinlmError, match="batch_size"):
        list(clinlm.load(ner_dir, context=False).pipe([NOTE], batch_size=0))


# -- 6. --record never writes into the installed package ----------------------------------------------
@pytest.fixture()
def gold(tmp_path) -> Path:
    d = Document("g", NOTE)
    d.add(19, 29, "T033")
    write_documents([d], tmp_path / "gold.jsonl", "jsonl")
    return tmp_path / "gold.jsonl"


@pytest.mark.parametrize("explicit", [False, True])
def test_record_refuses_the_shipped_default_model(gold, explicit):
    manifest = SHIPPED_MODEL / "clinlm.json"
    before = manifest.read_bytes()
    extra = ["--model", SHIPPED_MODEL] if explicit else []
    code, _, err = run("evaluate", "ner", "--data", gold, "--record", "test", *extra)
    line = one_line_error(code, err)
    assert "--record" in line and "shipped default model" in line
    assert manifest.read_bytes() == before


def test_record_writes_into_a_model_of_ones_own(gold, ner_dir, tmp_path):
    import shutil

    mine = tmp_path / "mine"
    shutil.copytree(ner_dir, mine)
    code, _, err = run("evaluate", "ner", "--data", gold, "--model", mine, "--record", "test", "--json")
    assert code == 0, err
    assert "test" in json.loads((mine / "clinlm.json").read_text())["metrics"]


# -- 7. --format pubtator and line breaks ---------------------------------------------------------------
@pytest.mark.parametrize("text", ["line one\nline two", "line one\r\nline two", "a\rb"])
def test_pubtator_refuses_line_breaks_before_the_model_loads(tmp_path, text):
    note = tmp_path / "n.txt"
    note.write_bytes(text.encode())
    code, _, err = run("annotate", note, "--model", tmp_path / "no-such-model", "--format", "pubtator")
    line = one_line_error(code, err)
    assert "pubtator" in line and "line break" in line and "--format jsonl" in line
    assert "model directory not found" not in line


def test_pubtator_still_writes_single_line_notes(ner_dir, tmp_path):
    note = tmp_path / "n.txt"
    note.write_text(NOTE)
    code, out, err = run("annotate", note, "--model", ner_dir, "--no-context", "--format", "pubtator")
    assert code == 0 and out.startswith(f"n|t|{NOTE}\n"), err


# -- 8. --discontinuous -------------------------------------------------------------------------------
@pytest.fixture()
def brat_gold(tmp_path) -> Path:
    folder = tmp_path / "brat"
    folder.mkdir()
    (folder / "d.txt").write_text("chest and pain here")
    (folder / "d.ann").write_text("T1\tT033 0 5;10 14\tchest pain\n")
    return folder


def test_discontinuous_error_names_the_flag(brat_gold, tmp_path):
    bogus = tmp_path / "no-such-model"
    for args in (["evaluate", "ner", "--data", brat_gold, "--model", bogus],
                 ["train", "ner", "--model", bogus, "--train", brat_gold, "--output", tmp_path / "o"],
                 ["annotate", brat_gold / "d.ann", "--model", bogus]):
        line = one_line_error(*run(*args)[::2])
        assert "--discontinuous merge" in line and "discontinuous='merge'" not in line, args


def test_discontinuous_merge_reads_the_covering_span(brat_gold, ner_dir, tmp_path):
    code, out, err = run("evaluate", "ner", "--data", brat_gold, "--model", ner_dir, "--discontinuous", "merge", "--json")
    assert code == 0, err
    assert json.loads(out)["span_exact"]["support"] == 1
    # train ner gets past reading (and stops at the missing model); annotate reads the .ann
    line = one_line_error(*run("train", "ner", "--model", tmp_path / "none", "--train", brat_gold, "--output",
                               tmp_path / "o", "--discontinuous", "merge")[::2])
    assert "model directory not found" in line and "--discontinuous" not in line
    code, out, err = run("annotate", brat_gold / "d.ann", "--model", ner_dir, "--no-context", "--format", "jsonl",
                         "--discontinuous", "merge")
    assert code == 0 and json.loads(out)["text"] == "chest and pain here", err


def test_discontinuous_takes_only_its_choices(brat_gold):
    r = CliRunner().invoke(app, ["evaluate", "ner", "--data", str(brat_gold), "--discontinuous", "split"])
    assert r.exit_code == 2 and "Invalid value for '--discontinuous'" in r.output, r.output


# -- 9. progress inside one long note -------------------------------------------------------------------
def test_pipe_reports_window_progress_within_a_long_note(ner_dir):
    pipe = clinlm.load(ner_dir, context=False, max_length=16, stride=4, batch_tokens=32)
    calls: list[tuple[int, int]] = []
    long_note = " ".join(["the patient denies chest pain and fever"] * 40)
    (doc,) = pipe.pipe([long_note], on_progress=lambda done, planned: calls.append((done, planned)))
    planned = calls[0][1]
    assert calls[0] == (0, planned) and planned > 10 and len(calls) > 5
    assert all(p == planned for _, p in calls)
    dones = [d for d, _ in calls]
    assert dones == sorted(set(dones)) and dones[-1] == planned  # strictly increasing, to the end
    assert doc.entities  # the callback changes nothing else
    assert doc.entities == pipe(long_note).entities


def test_pipe_progress_counts_on_across_groups_of_notes(ner_dir):
    pipe = clinlm.load(ner_dir, context=False, max_length=16, stride=4, batch_tokens=32)
    calls: list[tuple[int, int]] = []
    notes = [" ".join(["chest pain"] * n) for n in (30, 20, 25)]
    docs = list(pipe.pipe(notes, batch_size=1, on_progress=lambda d, p: calls.append((d, p))))
    assert len(docs) == 3
    dones, planned = [d for d, _ in calls], [p for _, p in calls]
    assert dones == sorted(dones) and planned == sorted(planned) and dones[-1] == planned[-1]
    assert len(set(planned)) == 3  # each group of notes adds its windows


def test_annotate_shows_a_window_progress_bar_on_a_terminal(ner_dir, tmp_path, monkeypatch):
    from rich.console import Console

    import clinlm.cli.annotate as annotate_module

    screen = io.StringIO()
    monkeypatch.setattr(annotate_module, "err", Console(file=screen, force_terminal=True, width=100))
    note = tmp_path / "long.txt"
    note.write_text(" ".join(["the patient denies chest pain"] * 50))
    code, _, err = run("annotate", note, "--model", ner_dir, "--no-context", "--format", "jsonl", "--max-length", "16",
                       "--stride", "4")
    assert code == 0, err
    assert "windows" in screen.getvalue()


# -- 10. clinlm.load draws no progress bar ---------------------------------------------------------------
def test_load_prints_no_loading_bar_and_restores_the_switch(ner_dir, capfd):
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()  # as in a fresh process (CLI tests in this one turn bars off)
    try:
        capfd.readouterr()
        clinlm.load(ner_dir, context=False)
        err = capfd.readouterr().err
        assert "Loading" not in err and "it/s" not in err and "%|" not in err, err
        assert hf_logging.is_progress_bar_enabled()  # back as it was
    finally:
        if not was:
            hf_logging.disable_progress_bar()
