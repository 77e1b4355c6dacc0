"""A prior on labels read from the section (context/resources/section_types.json, applied by the NER
pipeline before decoding): in a review of systems or an exam, a PubMed-trained model's near-tie
between T038 Biologic Function and T033 Finding goes to Finding; what it is sure of stays."""
from __future__ import annotations

from pathlib import Path

import pytest

from clinlm.context.concepts import load_section_types, section_types_for

NOTE = """HISTORY OF PRESENT ILLNESS
Cough for two weeks.

REVIEW OF SYSTEMS
Fever. Nausea.

PHYSICAL EXAM
Lungs: wheezes.
"""


def test_the_shipped_rules_and_their_label_check():
    rules, prior = load_section_types()
    assert rules["review_of_systems"] == {"T038": "T033"} and rules["physical_exam"] == {"T038": "T033"}
    assert prior > 0
    assert section_types_for({"T033", "T038", "T103"}, rules) == rules
    assert section_types_for({"T038"}, rules) == {}           # no Finding label to lean to
    assert section_types_for({"Chemical", "Disease"}, rules) == {}


def _tagger(base: Path, out: Path, labels: list[str], bias: dict[str, float]) -> Path:
    """A tagger that scores every word the same: ``bias`` per tag, 0 for the rest."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(
        base, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)})
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([bias.get(x, 0.0) for x in labels]))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


ST = ["O", "B-T038", "I-T038", "B-T033", "I-T033"]


def _labels(model, **options) -> dict[str, str]:
    import clinlm

    return {e.text.lower(): e.label for e in clinlm.load(model, **options)(NOTE).entities}


@pytest.mark.parametrize("labels, bias, listed", [
    (ST, {"B-T038": 5.0, "B-T033": 1.0}, "T033"),   # a lean of 4 log-odds: the section's prior wins
    (ST, {"B-T038": 12.0, "B-T033": 1.0}, "T038"),  # sure of T038: it stays
    (["O", "B-T038", "I-T038"], {"B-T038": 5.0}, "T038"),  # no T033 label: nothing to lean to
])
def test_listed_sections_lean_to_finding_and_others_do_not(tiny_bert, tmp_path, labels, bias, listed):
    _, prior = load_section_types()
    assert 4.0 < prior < 11.0  # the parametrized leans sit on either side of it
    found = _labels(_tagger(tiny_bert, tmp_path / "tagger", labels, bias))
    assert found["cough"] == "T038"  # history of present illness: no prior
    assert [found[w] for w in ("fever", "nausea", "wheezes")] == [listed] * 3


def test_the_prior_makes_no_entity_and_needs_clean(tiny_bert, tmp_path):
    # O ahead of both entity labels, which tie: no word becomes an entity in a listed section
    model = _tagger(tiny_bert, tmp_path / "o", ST, {"O": 3.0, "B-T038": 2.5, "B-T033": 2.5})
    assert _labels(model) == {}
    lean = _tagger(tiny_bert, tmp_path / "lean", ST, {"B-T038": 5.0, "B-T033": 1.0})
    assert set(_labels(lean, clean=False).values()) == {"T038"}  # without clean: the model's labels as they are
    assert set(_labels(lean, context=False).values()) == {"T038"}
