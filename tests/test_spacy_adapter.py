"""clinlm Document <-> spaCy Doc: exact offsets both ways, medspaCy extensions, displaCy."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from clinlm.document import Document, Entity
from clinlm.context.spacy_adapter import GROUP, from_spacy, to_spacy

TEXT = "Pt denies fever.\r\nMother had breast cancer; s/p MIs in 2015 \u2014 na\u00efve T\u00e9st \U0001f600."


def _doc() -> Document:
    d = Document("n1", TEXT, metadata={"source": "test"})
    for term, attrs in (("fever", {"negated": True, "assertion": "absent"}), ("breast cancer", {"family": True}),
                        ("MI", {"historical": True}), ("na\u00efve", {})):
        i = TEXT.index(term)
        d.add(i, i + len(term), "T033", 0.5, **attrs)
    return d


def test_to_spacy_makes_spans_and_ents():
    d = _doc()
    sdoc = to_spacy(d)
    assert sdoc.text == TEXT and sdoc._.clinlm_id == "n1"
    assert [s.label_ for s in sdoc.spans[GROUP]] == ["T033"] * 4
    assert [e.text for e in sdoc.ents] == ["fever", "breast cancer", "MIs", "na\u00efve"]  # "MI" widened to its token
    mi = sdoc.spans[GROUP][2]
    assert mi._.clinlm == d.entities[2] and (mi._.clinlm.start, mi._.clinlm.end) != (mi.start_char, mi.end_char)
    assert from_spacy(sdoc) == d


@settings(max_examples=60, deadline=None)
@given(st.text(st.sampled_from(list("ab c\r\n\t.,-/\u00e9\u0301\u4e2d\u200b\u2028\U0001f600")), min_size=1, max_size=80),
       st.lists(st.tuples(st.integers(0, 79), st.integers(1, 10), st.sampled_from(["T033", "T047", "X"])), max_size=8))
def test_round_trip_keeps_offsets_exactly(text, raw):
    ents = [Entity(s, min(s + n, len(text)), lab, text[s:min(s + n, len(text))], None, {"negated": s % 2 == 0})
            for s, n, lab in raw if s < len(text)]
    d = Document("h", text, ents)
    back = from_spacy(to_spacy(d))
    assert back.text == text
    assert sorted((e.start, e.end, e.label, e.text) for e in back.entities) == sorted(
        (e.start, e.end, e.label, e.text) for e in d.entities)
    assert sorted(e.attributes["negated"] for e in back.entities) == sorted(e.attributes["negated"] for e in d.entities)


def test_from_spacy_reads_any_spacy_doc():
    import spacy

    nlp = spacy.blank("en")
    sdoc = nlp("Aspirin helps. Fever rose.")
    sdoc.ents = [sdoc.char_span(0, 7, label="T103"), sdoc.char_span(15, 20, label="T033")]
    d = from_spacy(sdoc, "plain")
    assert d.id == "plain" and [(e.start, e.end, e.label, e.text) for e in d.entities] == [
        (0, 7, "T103", "Aspirin"), (15, 20, "T033", "Fever")]


def test_medspacy_users_see_context_and_displacy_draws_it():
    from spacy import displacy
    from spacy.tokens import Span

    from clinlm.context import default_annotator

    annotated = default_annotator()(_doc())
    sdoc = to_spacy(annotated)
    fever, cancer = sdoc.spans[GROUP][0], sdoc.spans[GROUP][1]
    assert Span.has_extension("is_negated")  # medspaCy is loaded by the annotator
    assert fever._.is_negated and not fever._.is_family and cancer._.is_family
    assert fever._.clinlm.attributes["assertion"] == "absent"
    html = displacy.render(sdoc, style="ent", jupyter=False)
    assert "T033" in html and "breast cancer" in html
    # a medspaCy-only span (no clinlm entity behind it) brings medspaCy's flags along
    sdoc2 = to_spacy(Document("m", "no fever"))
    span = Span(sdoc2, 1, 2, label="T033")
    span._.is_negated = True
    sdoc2.ents = [span]
    del sdoc2.spans[GROUP]
    e = from_spacy(sdoc2).entities[0]
    assert (e.text, e.attributes["negated"], e.attributes["assertion"]) == ("fever", True, "absent")
