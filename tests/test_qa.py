"""Extractive QA: SQuAD reader, windows and answer offsets (hypothesis), SQuAD metrics, learning, CLI."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
from cli_runner import clinlm
from conftest import WORDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinlm.errors import InputError, OffsetError
from clinlm.runtime.loading import load_tokenizer
from clinlm.tasks import get_task
from clinlm.tasks.qa.data import Answer, QaExample, read_squad
from clinlm.tasks.qa.metrics import normalize_answer, squad_scores, token_f1
from clinlm.tasks.qa.task import best_span, char_to_token_span, token_to_char_span
from clinlm.tasks.trainer import TrainArgs, train

ANSWERS = ["aspirin", "metformin", "covid", "influenza"]
FILLER = [w for w in WORDS if w not in ANSWERS and w != "takes"]




def squad(examples: list[QaExample]) -> dict:
    paras = [{"context": e.context, "qas": [{"id": e.id, "question": e.question,
                                            "answers": [{"text": a.text, "answer_start": a.start} for a in e.answers]}]}
             for e in examples]
    return {"version": "1.1", "data": [{"title": "t", "paragraphs": paras}]}


def drug_examples(n: int, seed: int = 0, words: int = 40) -> list[QaExample]:
    """Long contexts (several windows) of filler with one drug name somewhere: the answer."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        toks = [rng.choice(FILLER) for _ in range(words)]
        at = rng.randrange(words)
        drug = ANSWERS[i % len(ANSWERS)]
        toks.insert(at, drug)
        context = " ".join(toks) + "."
        start = len(" ".join(toks[:at])) + (1 if at else 0)
        out.append(QaExample(f"q{i}", "which drug ?", context, (Answer(start, drug),)))
    return out


@pytest.fixture(scope="module")
def tok(tiny_bert):
    return load_tokenizer(str(tiny_bert))


# -- reader -----------------------------------------------------------------------------------------
def test_squad_reader_keeps_offsets(tmp_path):
    ex = drug_examples(3)
    (tmp_path / "s.json").write_text(json.dumps(squad(ex), indent=1))
    back = read_squad(tmp_path / "s.json")
    assert back == ex and all(e.context[a.start : a.end] == a.text for e in back for a in e.answers)


def test_squad_reader_errors_name_file_and_line(tmp_path):
    data = squad(drug_examples(2))
    data["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] += 1
    p = tmp_path / "s.json"
    p.write_text(json.dumps(data, indent=1))
    line = next(n for n, l in enumerate(p.read_text().splitlines(), 1) if '"q1"' in l)
    with pytest.raises(OffsetError, match=rf"^{p}:{line}: question q1: answer '(aspirin|metformin)' is not at offset"):
        read_squad(p)
    p.write_text('{"data": [\n{"paragraphs": [\n{"context": "x", "qas": [}]}')
    with pytest.raises(InputError, match=rf"^{p}:3: not valid JSON"):
        read_squad(p)
    p.write_text(json.dumps({"data": [{"paragraphs": [{"context": "x", "qas": [{"id": "a", "question": "q", "answers": []}]}]}]}))
    with pytest.raises(InputError, match="question a has no answer"):
        read_squad(p)
    assert read_squad(p, require_answers=False)[0].answers == ()


# -- offsets (hypothesis) --------------------------------------------------------------------------------
context_words = st.lists(st.sampled_from(WORDS + ["x-ray", "5mg", "(bid)", "e.g."]), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=context_words, data=st.data(), max_length=st.integers(24, 64), stride=st.integers(1, 10))
def test_window_labels_map_back_to_the_exact_answer(tok, words, data, max_length, stride):
    """Every window that holds the answer labels subwords whose char span is exactly the answer;
    at least one window holds it; the others point at [CLS]."""
    i = data.draw(st.integers(0, len(words) - 1))
    j = data.draw(st.integers(i + 1, min(len(words), i + 4)))
    context = " ".join(words)
    start = len(" ".join(words[:i])) + (1 if i else 0)
    text = " ".join(words[i:j])
    ex = QaExample("q", "which drug ?", context, (Answer(start, text),))
    task = get_task("qa", max_length=max_length, stride=stride)
    windows = task.windows(tok, [ex])
    holding = 0
    for win in windows:
        span = char_to_token_span(win.offsets, start, start + len(text))
        if span is None:
            continue
        holding += 1
        assert token_to_char_span(win.offsets, *span) == (start, start + len(text))
    # an answer of L subwords lies whole in some window when L <= stride + 1 (consecutive windows share `stride`)
    fits = len(tok(text, add_special_tokens=False)["input_ids"]) <= stride + 1 or len(windows) == 1
    assert holding >= 1 or not fits
    # every context character lies in some window, and windows are in order
    covered = {c for w in windows for o in w.offsets if o is not None for c in range(*o)}
    assert covered == {c for c, ch in enumerate(context) if not ch.isspace()}


@given(text=st.text(alphabet="ab .,-", min_size=1, max_size=40), data=st.data())
def test_char_to_token_span_is_the_smallest_cover(text, data):
    """For any character span: the tokens found cover it, and dropping either end token would not."""
    toks = [(m.start(), m.end()) for m in __import__("re").finditer(r"\w+|[^\w\s]", text)]
    if not toks:
        return
    s = data.draw(st.integers(toks[0][0], toks[-1][1] - 1))
    e = data.draw(st.integers(s + 1, toks[-1][1]))
    offsets = [None] + toks + [None]  # specials around the context, as in a window
    span = char_to_token_span(offsets, s, e)
    overlapping = [i for i, o in enumerate(offsets) if o is not None and o[0] < e and s < o[1]]
    if not overlapping:
        assert span is None or span[0] > span[1]
        return
    assert span == (overlapping[0], overlapping[-1])  # exactly the tokens that share a character with the span
    cs, ce = token_to_char_span(offsets, *span)
    assert cs < e and ce > s and text[cs:ce].strip() == text[cs:ce]


@given(n=st.integers(1, 12), k=st.integers(1, 5), seed=st.integers(0, 10**6))
def test_best_span_is_the_brute_force_best(n, k, seed):
    rng = np.random.default_rng(seed)
    start, end = rng.normal(size=n), rng.normal(size=n)
    offsets = [None if rng.random() < 0.3 else (i, i + 1) for i in range(n)]
    got = best_span(start, end, offsets, k)
    valid = [(start[a] + end[b], a, b) for a in range(n) for b in range(a, min(n, a + k))
             if offsets[a] is not None and offsets[b] is not None]
    if not any(o is not None for o in offsets):
        assert got is None
    else:
        assert got is not None and got[0] == pytest.approx(max(valid)[0])


# -- metrics ---------------------------------------------------------------------------------------------
def test_squad_metrics_match_hand_computation():
    assert normalize_answer("The  Aspirin, 81mg!") == "aspirin 81mg"
    # pred tokens {aspirin, daily}, gold {aspirin, 81, mg}: P 1/2, R 1/3 -> F1 0.4
    assert token_f1("aspirin daily", "aspirin 81 mg") == pytest.approx(0.4)
    res = squad_scores([["Aspirin", "an aspirin tablet"], ["metformin"]], ["the aspirin", "insulin"])
    assert res["exact_match"] == 50.0 and res["f1"] == 50.0 and res["n"] == 2


# -- learning and prediction --------------------------------------------------------------------------------
def test_qa_learns_and_answers_with_char_offsets_across_windows(tiny_bert, tmp_path):
    task = get_task("qa", max_length=32, stride=8, max_answer_tokens=5)
    train_ex = drug_examples(48)
    model, tokenizer = task.build(str(tiny_bert), train_ex)
    assert len(task.features(train_ex, model, tokenizer)) > 2 * len(train_ex)  # long contexts: several windows each
    train(task, model, tokenizer, train_ex, None, TrainArgs(epochs=25, learning_rate=3e-3, batch_size=16, precision="fp32", seed=1), tmp_path / "m")
    held = drug_examples(16, seed=7)
    preds = task.predict(model, tokenizer, held)
    for ex, p in zip(held, preds):
        assert ex.context[p["start"] : p["end"]] == p["answer"]
    res = task.evaluate(model, tokenizer, held)
    assert res["exact_match"] >= 90.0


@pytest.mark.slow
def test_cli_qa_train_evaluate_predict(tiny_bert, tmp_path):
    (tmp_path / "train.json").write_text(json.dumps(squad(drug_examples(48))))
    (tmp_path / "dev.json").write_text(json.dumps(squad(drug_examples(8, seed=3))))
    r = clinlm("train", "qa", "--model", tiny_bert, "--train", tmp_path / "train.json", "--dev", tmp_path / "dev.json",
               "--output", tmp_path / "m", "--epochs", "25", "--lr", "3e-3", "--max-length", "32", "--stride", "8",
               "--max-answer-tokens", "5", "--seed", "1", "--precision", "fp32")
    assert r.returncode == 0, r.stderr.decode()
    man = json.loads((tmp_path / "m" / "clinlm.json").read_text())
    assert man["task"] == "qa" and man["max_length"] == 32 and man["stride"] == 8
    ev = clinlm("evaluate", "qa", "--model", tmp_path / "m", "--data", tmp_path / "dev.json", "--json")
    assert ev.returncode == 0, ev.stderr.decode()
    assert json.loads(ev.stdout)["exact_match"] >= 80.0
    pr = clinlm("predict", "qa", "--model", tmp_path / "m", "--data", tmp_path / "dev.json")
    preds = [json.loads(l) for l in pr.stdout.decode().splitlines()]
    contexts = {e.id: e.context for e in drug_examples(8, seed=3)}
    assert len(preds) == 8 and all(contexts[p["id"]][p["start"] : p["end"]] == p["answer"] for p in preds)
    bad = clinlm("train", "qa", "--model", tiny_bert, "--train", tmp_path / "train.json", "--output", tmp_path / "x",
                 "--max-length", "32", "--stride", "16")
    assert bad.returncode == 2 and b"under half" in bad.stderr and not (tmp_path / "x").exists()


def test_python_api_loads_a_checkpoint_by_its_manifest(tiny_bert, tmp_path):
    from clinlm.tasks.predict import load_model

    task = get_task("qa", max_length=32, stride=8)
    ex = drug_examples(4)
    model, tokenizer = task.build(str(tiny_bert), ex)
    task.save(model, tokenizer, tmp_path, {"base_model": str(tiny_bert)})
    qa = load_model(tmp_path)
    assert qa.task.name == "qa" and qa.task.stride == 8
    [p] = qa.predict([("which drug ?", ex[0].context)])
    assert ex[0].context[p["start"] : p["end"]] == p["answer"]
