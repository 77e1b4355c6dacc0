"""Learned transitions: PMI of tag bigrams, stored in clinlm.json, added to Viterbi, scale chosen on dev."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import chest_pain_jsonl
from clinlm.decoding import _viterbi_dp, allowed_transitions, viterbi
from clinlm.errors import ConfigError
from clinlm.tasks.ner.transitions import entry, from_manifest, pmi_scores
from hypothesis import given, settings, strategies as st

LABELS = ["O", "B-A", "I-A", "B-B", "I-B"]


def test_pmi_says_what_the_previous_tag_adds():
    seqs = [["O", "B-A", "I-A", "I-A", "O", "B-B", "O"]] * 20 + [["B-A", "O", "B-B", "I-B"]] * 5
    s = pmi_scores(seqs, LABELS)
    i = {t: k for k, t in enumerate(LABELS)}
    assert s[i["B-A"], i["I-A"]] > 0 > s[i["O"], i["I-A"]]  # I-A follows B-A far more than it occurs overall
    assert s[i["I-A"], i["O"]] > s[i["I-A"], i["B-B"]]
    assert s.shape == (5, 5) and np.isfinite(s).all()  # add-one: never seen is finite, not -inf


def test_manifest_entry_round_trips_and_realigns():
    scores = np.arange(25, dtype=np.float32).reshape(5, 5)
    man = {"transitions": entry(scores, LABELS, 0.5)}
    assert np.allclose(from_manifest(json.loads(json.dumps(man)), LABELS), 0.5 * scores)
    other = ["I-B", "O", "B-A", "I-A", "B-B"]  # the same labels in another order: realigned by name
    got = from_manifest(man, other)
    k = [LABELS.index(l) for l in other]
    assert np.allclose(got, 0.5 * scores[np.ix_(k, k)])
    assert from_manifest({"transitions": entry(scores, LABELS, 0.0)}, LABELS) is None  # scale 0: plain Viterbi
    assert from_manifest({}, LABELS) is None
    with pytest.raises(ConfigError, match="other labels"):
        from_manifest(man, ["O", "B-C", "I-C", "B-B", "I-B"])


def test_soft_scores_move_the_path_and_keep_the_constraints():
    start, trans = allowed_transitions(LABELS)
    rng = np.random.default_rng(1)
    for _ in range(50):
        lp = np.log(rng.dirichlet(np.ones(5) * 0.5, size=12)).astype(np.float32)
        soft = rng.normal(size=(5, 5)).astype(np.float32)
        path = viterbi(lp, start, trans, soft)
        assert start[path[0]] and all(trans[a, b] for a, b in zip(path, path[1:]))
        assert path.tolist() == _viterbi_dp(lp, start, trans, soft).tolist()
    # a strong reward for staying inside an entity turns O between two B-A words into I-A
    lp = np.log(np.array([[0.1, 0.8, 0.05, 0.03, 0.02], [0.5, 0.1, 0.3, 0.05, 0.05]], dtype=np.float32))
    assert [LABELS[j] for j in viterbi(lp, start, trans)] == ["B-A", "O"]
    stay = np.zeros((5, 5), dtype=np.float32)
    stay[1, 2] = 2.0
    assert [LABELS[j] for j in viterbi(lp, start, trans, stay)] == ["B-A", "I-A"]


ST21 = ["O"] + [f"{p}-T{i}" for i in range(21) for p in "BI"]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_anchored_soft_viterbi_is_the_full_programme(data):
    """Anchors (words every best path labels alike) split the programme exactly: the same path as the
    whole programme, on random scores from peaked to flat, with weak to strong transition scores."""
    labels = data.draw(st.sampled_from([LABELS, ST21]))
    start, trans = allowed_transitions(labels)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n = data.draw(st.integers(0, 60))
    lp = np.log(rng.dirichlet(np.ones(len(labels)) * data.draw(st.sampled_from([0.02, 0.1, 0.5, 2.0])), size=n) + 1e-30)
    lp[:, 2::2] += data.draw(st.sampled_from([0.0, 2.0]))  # I- tags from rare to common
    lp = lp.astype(np.float32).reshape(n, len(labels))
    soft = (rng.normal(size=(len(labels),) * 2) * data.draw(st.sampled_from([0.05, 0.5, 3.0]))).astype(np.float32)
    assert viterbi(lp, start, trans, soft).tolist() == _viterbi_dp(lp, start, trans, soft).tolist()


def test_pipeline_reads_transitions_from_its_checkpoint(tagger, tmp_path):
    import shutil

    from clinlm.tasks.ner.pipeline import NerPipeline
    from conftest import TAGGER_LABELS

    model = tmp_path / "m"
    shutil.copytree(tagger, model)
    text = "the patient denies chest pain and fever . mother with diabetes , aspirin 81 mg daily ."
    plain = NerPipeline.from_pretrained(model, precision="fp32", context=False)(text)
    man = json.loads((model / "clinlm.json").read_text())
    n = len(TAGGER_LABELS)
    scores = np.zeros((n, n), dtype=np.float32)
    scores[:, 0] = 50.0  # everything prefers to be followed by O: at most one-word entities
    man["transitions"] = entry(scores, TAGGER_LABELS, 1.0)
    (model / "clinlm.json").write_text(json.dumps(man))
    soft = NerPipeline.from_pretrained(model, precision="fp32", context=False)
    assert soft._soft is not None
    assert all(e.end - e.start == len(e.text) and " " not in e.text for e in soft(text).entities)
    off = NerPipeline.from_pretrained(model, precision="fp32", context=False, transitions=False)(text)
    assert [e.key() for e in off.entities] == [e.key() for e in plain.entities]


def test_cli_fits_transitions_on_train_and_chooses_on_dev(tagger, tmp_path):
    from cli_runner import clinlm

    data = chest_pain_jsonl(tmp_path / "d.jsonl", 6)
    r = clinlm("train", "ner-transitions", "--model", tagger, "--train", data, "--dev", data, "--output", tmp_path / "out",
               "--scales", "0,0.5,2", "--precision", "fp32", "--json")
    assert r.returncode == 0, r.stderr.decode()
    res = json.loads(r.stdout.decode())
    man = json.loads((tmp_path / "out" / "clinlm.json").read_text())
    assert man["transitions"]["scale"] == res["scale"] in (0.0, 0.5, 2.0)
    assert set(man["transitions"]["dev_strict_f1"]) == {"0.0", "0.5", "2.0"} and (tmp_path / "out" / "config.json").is_file()
    assert json.loads((tagger / "clinlm.json").read_text()).get("transitions") is None  # --output: the source is untouched
    r = clinlm("train", "ner-transitions", "--model", tagger, "--train", data, "--dev", data, "--scales", "a,b")
    assert r.returncode == 2 and "--scales takes numbers" in r.stderr.decode()
    from clinlm.tasks.ner.pipeline import DEFAULT_MODEL_DIR

    r = clinlm("train", "ner-transitions", "--model", DEFAULT_MODEL_DIR, "--train", data, "--dev", data)
    assert r.returncode == 2 and "--output DIR" in r.stderr.decode()
