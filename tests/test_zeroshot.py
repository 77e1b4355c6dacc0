"""Zero-shot multiple choice: MMLU and MedConceptsQA readers, PLL and causal scores by hand, accuracy, CLI."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from cli_runner import clinlm

from clinlm.errors import InputError
from clinlm.tasks.mc.data import McQuestion, read_mc
from clinlm.tasks.mc.scoring import PROMPT, evaluate_mc, load_scorer, sample


def write_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory, tiny_bert) -> Path:
    """The tiny BERT with a (random) masked-LM head saved in the checkpoint."""
    from transformers import AutoTokenizer, BertForMaskedLM

    d = tmp_path_factory.mktemp("tiny-mlm")
    torch.manual_seed(0)
    BertForMaskedLM.from_pretrained(tiny_bert).save_pretrained(d)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def tiny_gpt(tmp_path_factory, tiny_bert) -> Path:
    """A 2-layer random GPT-2 that reads the tiny WordPiece vocabulary."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    d = tmp_path_factory.mktemp("tiny-gpt")
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2)).save_pretrained(d)
    tok.save_pretrained(d)
    return d


# -- readers ---------------------------------------------------------------------------------------
def test_mmlu_csv_with_quotes_and_line_breaks(tmp_path):
    p = write_csv(tmp_path / "anatomy_test.csv", [["Which, of these?", "a", "b, c", "d", "e", "B"],
                                                  ["Two\nlines", "w", "x", "y", "z", "d"]])
    qs = read_mc(p)
    assert qs == [McQuestion("anatomy_test:1", "Which, of these?", ("a", "b, c", "d", "e"), 1),
                  McQuestion("anatomy_test:2", "Two\nlines", ("w", "x", "y", "z"), 3)]
    write_csv(tmp_path / "b.csv", [["q", "a", "b", "c", "d", "A"]])
    assert [q.id for q in read_mc(tmp_path)] == ["anatomy_test:1", "anatomy_test:2", "b:1"]  # a directory: sorted files


def test_medconceptsqa_layout_keeps_the_stem_and_finds_the_answer(tmp_path):
    header = ["question_id", "answer", "answer_id", "option1", "option2", "option3", "option4", "question", "vocab", "level"]
    q = "What is the description of the medical code I10 in ICD10CM?\nA. Gout\nB. Essential hypertension\nC. Asthma\nD. Anemia"
    p = write_csv(tmp_path / "icd10cm_easy.csv", [header, ["7", "Essential hypertension", "B", "Gout", "Essential hypertension",
                                                           "Asthma", "Anemia", q, "ICD10CM", "easy"]])
    [mc] = read_mc(p)
    assert mc.id == "7" and mc.answer == 1 and mc.question == "What is the description of the medical code I10 in ICD10CM?"
    assert mc.options == ("Gout", "Essential hypertension", "Asthma", "Anemia")


@pytest.mark.parametrize("rows,line,message", [
    ([["q", "a", "b", "c", "d", "A"], ["q\nmore", "a", "b", "c", "d", "E"]], 2, "answer must be A, B, C or D"),
    ([["q", "a", "b", "c", "d", "A"], [], ["q", "a", "b", "A"]], 3, "expected 6 fields"),
])
def test_mc_errors_name_file_and_line(tmp_path, rows, line, message):
    p = write_csv(tmp_path / "x.csv", rows)
    with pytest.raises(InputError, match=rf"^{p}:{line}: {message}"):
        read_mc(p)


def test_sample_is_seeded():
    qs = [McQuestion(str(i), "q", ("a", "b"), 0) for i in range(50)]
    assert sample(qs, 10, seed=1) == sample(qs, 10, seed=1) != sample(qs, 10, seed=2)
    assert sample(qs, None) == qs and sample(qs, 99) == qs


# -- scores by hand ---------------------------------------------------------------------------------------
def test_pll_is_the_sum_of_one_mask_at_a_time(tiny_mlm):
    scorer = load_scorer(str(tiny_mlm))
    assert scorer.scoring == "pll" and scorer.mlm_head == "pretrained"
    question, option = "the patient denies chest pain", "aspirin daily"
    [(got, n)] = scorer.logprobs(question, [option])
    tok, model = scorer.tokenizer, scorer.model
    enc = tok(PROMPT.format(question=question), option)
    ids = enc["input_ids"]
    positions = [i for i, s in enumerate(enc.sequence_ids()) if s == 1]
    assert [ids[i] for i in positions] == tok(option, add_special_tokens=False)["input_ids"] and n == len(positions)
    expected = 0.0
    with torch.inference_mode():
        for pos in positions:
            masked = list(ids)
            masked[pos] = tok.mask_token_id
            logits = model(input_ids=torch.tensor([masked]), token_type_ids=torch.tensor([enc["token_type_ids"]])).logits
            expected += float(logits[0, pos].log_softmax(-1)[ids[pos]])
    assert got == pytest.approx(expected, abs=1e-4)


def test_causal_log_likelihood_by_hand(tiny_gpt):
    scorer = load_scorer(str(tiny_gpt))
    assert scorer.scoring == "causal"
    question, options = "the patient denies chest pain", ["aspirin", "metformin mg daily"]  # different lengths: padding
    got = scorer.logprobs(question, options)
    tok, model = scorer.tokenizer, scorer.model
    ctx = tok(PROMPT.format(question=question), add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        for (lp, n), option in zip(got, options):
            cont = tok(" " + option, add_special_tokens=False)["input_ids"]
            logp = model(input_ids=torch.tensor([ctx + cont])).logits[0].log_softmax(-1)
            expected = sum(float(logp[len(ctx) + j - 1, t]) for j, t in enumerate(cont))
            assert n == len(cont) and lp == pytest.approx(expected, abs=1e-4)


def test_prompt_is_cut_from_the_left_to_fit(tiny_mlm):
    scorer = load_scorer(str(tiny_mlm), max_length=24)
    long_question = " ".join(["fever"] * 80) + " chest"
    [(lp, n)] = scorer.logprobs(long_question, ["aspirin"])
    assert n == 1 and lp < 0


def test_encoder_without_mlm_head_is_flagged(tiny_bert):
    scorer = load_scorer(str(tiny_bert))
    assert scorer.scoring == "pll" and scorer.mlm_head.startswith("random")


class _Fixed:
    """A scorer with given log-probabilities, to check accuracy by hand."""

    scoring, mlm_head = "pll", "pretrained"

    def __init__(self, table):
        self.table = table

    def logprobs(self, question, options):
        return self.table[question]


def test_accuracy_per_token_and_chance_by_hand():
    qs = [McQuestion("1", "a", ("x", "y"), 0), McQuestion("2", "b", ("x", "y", "z", "w"), 1), McQuestion("3", "c", ("x", "y", "z", "w"), 2)]
    table = {"a": [(-2.0, 1), (-3.0, 3)],                         # sum picks x (right); per token picks y
             "b": [(-1.0, 1), (-4.0, 8), (-9.0, 1), (-9.0, 1)],    # sum picks x; per token picks y (right)
             "c": [(-5.0, 1), (-6.0, 1), (-1.0, 1), (-7.0, 1)]}    # both pick z (right)
    res = evaluate_mc(_Fixed(table), qs)
    assert res["accuracy"] == pytest.approx(2 / 3) and res["accuracy_per_token"] == pytest.approx(2 / 3)
    assert res["chance"] == pytest.approx((1 / 2 + 1 / 4 + 1 / 4) / 3) and res["n"] == 3
    assert res["accuracy_sum"] == pytest.approx(2 / 3) and res["normalize"] == "mean"
    assert [p["prediction"] for p in res["predictions"]] == ["B", "B", "C"]  # per token by default
    assert [p["prediction"] for p in evaluate_mc(_Fixed(table), qs, normalize="sum")["predictions"]] == ["A", "A", "C"]


@pytest.mark.slow
def test_cli_evaluate_mc(tiny_mlm, tmp_path):
    write_csv(tmp_path / "t.csv", [["the patient denies chest pain", "aspirin", "fever", "cough", "heart", "A"]] * 3)
    r = clinlm("evaluate", "mc", "--model", tiny_mlm, "--data", tmp_path / "t.csv", "--json")
    assert r.returncode == 0, r.stderr.decode()
    res = json.loads(r.stdout)
    assert res["n"] == 3 and res["chance"] == 0.25 and res["scoring"] == "pll" and len(res["predictions"]) == 3
    table = clinlm("evaluate", "mc", "--model", tiny_mlm, "--data", tmp_path / "t.csv", "--limit", "2")
    assert table.returncode == 0 and b"chance" in table.stdout and b"0.2500" in table.stdout
    bad = clinlm("evaluate", "mc", "--model", tiny_mlm, "--data", tmp_path / "none.csv")
    assert bad.returncode == 2 and b"no such file" in bad.stderr


@pytest.mark.slow
def test_cli_predict_mc_takes_unanswered_questions(tiny_mlm, tmp_path):
    rows = [["the patient denies chest pain", "aspirin", "fever", "cough", "heart"], ["is it the lung", "yes", "no", "mild", "acute"]]
    write_csv(tmp_path / "q.csv", rows)
    r = clinlm("predict", "mc", "--model", tiny_mlm, "--data", tmp_path / "q.csv", "--output", tmp_path / "p.jsonl")
    assert r.returncode == 0, r.stderr.decode()
    preds = [json.loads(l) for l in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [p["id"] for p in preds] == ["q:1", "q:2"] and all(len(p["logprobs"]) == 4 for p in preds)
    for p, row in zip(preds, rows):  # the chosen option is the best-scored one per token, named by letter and text
        best = max(range(4), key=lambda i: p["logprobs"][i] / p["tokens"][i])
        assert p["prediction"] == "ABCD"[best] and p["option"] == row[1 + best]
    r = clinlm("predict", "mc", "--model", tiny_mlm, "--data", tmp_path / "q.csv", "--normalize", "sum")
    assert r.returncode == 0, r.stderr.decode()
    for line, row in zip(r.stdout.decode().splitlines(), rows):  # --normalize sum: the best summed score
        p = json.loads(line)
        best = max(range(4), key=lambda i: p["logprobs"][i])
        assert p["prediction"] == p["prediction_sum"] == "ABCD"[best] and p["option"] == row[1 + best]
    r = clinlm("predict", "mc", "--model", tiny_mlm, "--data", tmp_path / "q.csv", "--normalize", "pmi")
    assert r.returncode == 0, r.stderr.decode()
    for line in r.stdout.decode().splitlines():  # --normalize pmi: the best score after the question less after "Answer:"
        p = json.loads(line)
        best = max(range(4), key=lambda i: p["logprobs"][i] - p["null_logprobs"][i])
        assert p["prediction"] == p["prediction_pmi"] == "ABCD"[best]
    # scoring needs the answers: one line naming the file and line, nothing written
    ev = clinlm("evaluate", "mc", "--model", tiny_mlm, "--data", tmp_path / "q.csv")
    assert ev.returncode == 2 and f"{tmp_path / 'q.csv'}:1: expected 6 fields".encode() in ev.stderr


def test_medconceptsqa_without_answer_columns_reads_for_prediction(tmp_path):
    p = write_csv(tmp_path / "m.csv", [["question_id", "question", "option1", "option2", "option3", "option4"],
                                       ["9", "What is I10?", "Gout", "Essential hypertension", "Asthma", "Anemia"]])
    [q] = read_mc(p, require_answer=False)
    assert q.id == "9" and q.answer is None and q.options[1] == "Essential hypertension"
    with pytest.raises(InputError, match=rf"^{p}:1: this MedConceptsQA header has no answer"):
        read_mc(p)  # scoring needs the answers


@pytest.mark.integration
def test_shared_mmlu_medical_reads(shared_data):
    test = read_mc(shared_data / "mmlu_medical" / "test")
    assert len(test) == 1099 and {q.answer for q in test} == {0, 1, 2, 3} and all(len(q.options) == 4 for q in test)


# -- issue 23: seeded random head, refusing it, length normalisation, masked positions only -------------------
def test_random_mlm_head_is_seeded(tiny_bert):
    question, options = "the patient denies chest pain", ["aspirin daily", "fever"]
    first = load_scorer(str(tiny_bert)).logprobs(question, options)
    torch.rand(100)  # the global generator moves on between the two loads
    again = load_scorer(str(tiny_bert), seed=42).logprobs(question, options)
    other = load_scorer(str(tiny_bert), seed=7).logprobs(question, options)
    assert first == again and first != other


def test_sum_and_mean_normalisation_pick_different_options():
    from clinlm.errors import ConfigError
    from clinlm.tasks.mc.scoring import predict_mc

    qs = [McQuestion("1", "a", ("short", "a much longer option"), 1)]
    table = {"a": [(-3.0, 1), (-4.0, 4)]}  # sum: -3 > -4 picks A; mean: -1 > -3 picks B (right)
    [by_sum] = predict_mc(_Fixed(table), qs, normalize="sum")
    [by_mean] = predict_mc(_Fixed(table), qs, normalize="mean")
    assert (by_sum["prediction"], by_sum["option"]) == ("A", "short")
    assert (by_mean["prediction"], by_mean["option"]) == ("B", "a much longer option")
    assert by_sum["prediction_sum"] == by_mean["prediction_sum"] == "A" and by_mean["prediction_per_token"] == "B"
    assert by_mean["tokens"] == [1, 4] and predict_mc(_Fixed(table), qs) == [by_mean]  # per token is the default
    res = evaluate_mc(_Fixed(table), qs)
    assert res["normalize"] == "mean" and res["accuracy"] == res["accuracy_per_token"] == 1.0 and res["accuracy_sum"] == 0.0
    res = evaluate_mc(_Fixed(table), qs, normalize="sum")
    assert res["normalize"] == "sum" and res["accuracy"] == res["accuracy_sum"] == 0.0 and res["accuracy_per_token"] == 1.0
    with pytest.raises(ConfigError, match="normalize"):
        predict_mc(_Fixed(table), qs, normalize="max")


class _WithNull(_Fixed):
    def __init__(self, table, null):
        super().__init__(table)
        self.null = null

    def null_logprobs(self, options):
        return [self.null[o] for o in options]


def test_pmi_picks_the_option_the_question_makes_likelier():
    from clinlm.tasks.mc.scoring import predict_mc

    qs = [McQuestion("1", "a", ("common", "rare"), 1)]
    table = {"a": [(-2.0, 1), (-3.0, 1)]}          # after the question: common is likelier (sum and mean pick A)
    null = {"common": (-1.0, 1), "rare": (-6.0, 1)}  # without it: common far likelier still; PMI -1 vs +3 picks B
    [pred] = predict_mc(_WithNull(table, null), qs, normalize="pmi")
    assert (pred["prediction"], pred["prediction_pmi"], pred["prediction_sum"], pred["prediction_per_token"]) == ("B", "B", "A", "A")
    assert pred["null_logprobs"] == [-1.0, -6.0]
    res = evaluate_mc(_WithNull(table, null), qs, normalize="pmi")
    assert res["accuracy"] == res["accuracy_pmi"] == 1.0 and res["accuracy_sum"] == res["accuracy_per_token"] == 0.0
    assert "accuracy_pmi" not in evaluate_mc(_WithNull(table, null), qs)  # only scored when asked for


def test_pmi_null_score_is_the_option_after_a_bare_answer_prompt(tiny_mlm):
    from clinlm.tasks.mc.scoring import NULL_PROMPT

    scorer = load_scorer(str(tiny_mlm))
    options = ["aspirin daily", "fever"]
    assert scorer.null_logprobs(options) == [scorer._pll(NULL_PROMPT, o) for o in options]
    assert scorer.null_logprobs(options) != scorer.logprobs("the patient denies chest pain", options)


def _pll_reference(scorer, question, option):
    """The straightforward computation: full-vocabulary log-softmax at every position of each masked copy."""
    tok, model = scorer.tokenizer, scorer.model
    enc = tok(PROMPT.format(question=question), option)
    ids = enc["input_ids"]
    total = 0.0
    with torch.inference_mode():
        for pos in [i for i, s in enumerate(enc.sequence_ids()) if s == 1]:
            masked = list(ids)
            masked[pos] = tok.mask_token_id
            logp = model(input_ids=torch.tensor([masked]), token_type_ids=torch.tensor([enc["token_type_ids"]])).logits.float().log_softmax(-1)
            total += float(logp[0, pos, ids[pos]])
    return total


@pytest.mark.parametrize("which", ["tiny_mlm", "tiny_megatron"])
def test_pll_applies_the_mlm_head_at_masked_positions_only(which, request):
    scorer = load_scorer(str(request.getfixturevalue(which)), device="cpu")
    scorer.batch_size = 2  # several chunks
    head = scorer.model.cls
    shapes = []
    hook = head.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape)))
    try:
        question, option = "the patient denies chest pain", "aspirin mg daily fever"
        [(got, n)] = scorer.logprobs(question, [option])
    finally:
        hook.remove()
    vocab = scorer.model.config.vocab_size
    assert n > 2 and sum(s[0] for s in shapes) == n and all(len(s) == 2 and s[1] == vocab for s in shapes)
    assert got == pytest.approx(_pll_reference(scorer, question, option), abs=1e-5)


@pytest.mark.slow
def test_cli_refuses_a_random_mlm_head_unless_allowed(tiny_bert, tmp_path):
    data = write_csv(tmp_path / "t.csv", [["the patient denies chest pain", "aspirin", "fever", "cough", "heart", "A"]])
    for command in ("evaluate", "predict"):
        r = clinlm(command, "mc", "--model", tiny_bert, "--data", data)
        lines = r.stderr.decode().strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and not r.stdout, r.stderr.decode()
        assert "no masked-LM head" in lines[0] and "clinlm pretrain" in lines[0] and "--allow-random-head" in lines[0]
    ok = clinlm("evaluate", "mc", "--model", tiny_bert, "--data", data, "--json", "--allow-random-head")
    assert ok.returncode == 0, ok.stderr.decode()
    assert json.loads(ok.stdout)["mlm_head"].startswith("random") and b"random" in ok.stderr and b"chance" in ok.stderr
    pred = clinlm("predict", "mc", "--model", tiny_bert, "--data", data, "--allow-random-head", "--seed", "3")
    assert pred.returncode == 0 and b"random" in pred.stderr and json.loads(pred.stdout.splitlines()[0])["id"] == "t:1"


def test_pll_of_an_unknown_head_layout_slices_the_logits_before_the_log_softmax(tiny_mlm, monkeypatch):
    import clinlm.tasks.mc.scoring as scoring

    scorer = load_scorer(str(tiny_mlm), device="cpu")
    monkeypatch.setattr(scoring, "_mlm_parts", lambda model: None)  # a head clinlm cannot call on its own
    question, option = "the patient denies chest pain", "aspirin daily"
    [(got, _)] = scorer.logprobs(question, [option])
    assert got == pytest.approx(_pll_reference(scorer, question, option), abs=1e-5)
