"""Words, BIO tags and windows are derived from offsets: properties over generated texts."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinlm.document import Document, Entity
from clinlm.errors import ConfigError, OffsetError
from clinlm.labels import bio_labels, repair_bio, tag_spans
from clinlm.text import entity_tags, tags_to_entities, words
from clinlm.windows import encode, owners, plan

ALPHABET = st.sampled_from(list("abc XYZ\t\r\n\u00e9\u0301\u4e2d\U0001f600-.,;:()/0123456789  \u200b"))
texts = st.text(ALPHABET, max_size=300)


@st.composite
def docs_with_entities(draw):
    text = draw(texts)
    w = words(text)
    ents = []
    i = 0
    while i < len(w):
        if draw(st.booleans()):
            j = min(len(w), i + draw(st.integers(1, 4)))
            s, e = w.starts[i], w.ends[j - 1]
            ents.append(Entity(s, e, draw(st.sampled_from(["T033", "T047", "T103"])), text[s:e]))
            i = j + draw(st.integers(0, 2))
        else:
            i += 1
    return Document("d", text, ents)


@given(texts)
def test_words_are_exact_slices_and_never_whitespace(text):
    w = words(text)
    for s, e, string in zip(w.starts, w.ends, w.strings()):
        assert text[s:e] == string and string.strip() == string and string
    assert list(w.starts) == sorted(w.starts)


@settings(max_examples=200)
@given(docs_with_entities())
def test_tags_round_trip_to_the_same_entities(doc):
    w = words(doc.text)
    tags = entity_tags(w, doc.entities)
    back = tags_to_entities(w, tags)
    assert [e.key() for e in back] == [e.key() for e in doc.entities]
    for e in back:
        assert doc.text[e.start : e.end] == e.text


@given(st.lists(st.sampled_from(["O", "B-A", "I-A", "B-B", "I-B"]), max_size=30))
def test_repair_gives_valid_iob2(tags):
    fixed = repair_bio(tags)
    for prev, cur in zip(["O"] + fixed, fixed):
        if cur.startswith("I-"):
            assert prev[2:] == cur[2:] and prev != "O"
    # repair only ever changes I- to B-
    assert all(a == b or (a.startswith("I-") and b == "B-" + a[2:]) for a, b in zip(tags, fixed))


def test_document_rejects_offsets_that_do_not_match():
    with pytest.raises(OffsetError, match="1 entity"):
        Document("x", "chest pain", [Entity(0, 5, "T033", "chest"), Entity(6, 10, "T033", "PAIN")])


@given(n=st.integers(0, 3000), length=st.integers(2, 600), data=st.data())
def test_windows_cover_every_subword_within_length(n, length, data):
    stride = data.draw(st.integers(0, length - 1))
    spans = plan(n, length, stride)
    covered = np.zeros(n, dtype=bool)
    for s, e in spans:
        assert 0 <= s < e <= n and e - s <= length
        covered[s:e] = True
    assert covered.all()
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert s2 > s1 and e1 - s2 >= stride  # consecutive windows overlap by at least stride


def test_bad_stride_is_a_clear_error():
    with pytest.raises(ConfigError, match="stride"):
        plan(100, 10, 10)


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    from clinlm.runtime.loading import load_tokenizer

    return load_tokenizer(str(tiny_bert))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(ALPHABET, max_size=800), length=st.integers(3, 40), data=st.data())
def test_every_word_has_an_owning_window(tokenizer, text, length, data):
    stride = data.draw(st.integers(0, length - 1))
    (enc,) = encode(tokenizer, [text])
    assert len(enc.first_subword) == len(words(text))
    spans = plan(len(enc.input_ids), length, stride)
    own = owners(enc, spans)
    has_subwords = enc.first_subword >= 0
    assert (own[has_subwords] >= 0).all()
    for i in np.nonzero(has_subwords)[0]:
        s, e = spans[own[i]]
        f = enc.first_subword[i]
        assert s <= f < e
        # no other window gives this word more context
        best = min(f - s, e - 1 - f)
        assert all(min(f - s2, e2 - 1 - f) <= best for s2, e2 in spans if s2 <= f < e2)


def test_labels_and_spans():
    assert bio_labels(["T005", "T204"]) == ["O", "B-T005", "I-T005", "B-T204", "I-T204"]
    assert tag_spans(["B-A", "I-A", "O", "B-B", "B-B", "I-B"]) == [(0, 2, "A"), (3, 4, "B"), (4, 6, "B")]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(ALPHABET, max_size=400), data=st.data())
def test_separators_are_context_only_words_and_offsets_stay(tokenizer, text, data):
    """A separator before a word adds one token that belongs to no word; every word keeps its
    subwords, in order, and the text between separators reads as before."""
    from clinlm.windows import SEPARATOR

    w = words(text)
    breaks = data.draw(st.lists(st.integers(0, len(text)), max_size=8))
    (plain,) = encode(tokenizer, [text])
    (sep,) = encode(tokenizer, [text], [breaks])
    assert sep.words == plain.words and len(sep.first_subword) == len(w)
    inside = {i for b in breaks for i in [np.searchsorted(w.starts, b)] if 0 < i < len(w)}
    dot = tokenizer(SEPARATOR, add_special_tokens=False)["input_ids"]
    assert len(sep.input_ids) == len(plain.input_ids) + len(dot) * len(inside)
    assert (sep.word_ids == -1).sum() == len(dot) * len(inside)
    # the subwords of each word are the same tokens, just shifted
    real = sep.word_ids >= 0
    assert sep.input_ids[real].tolist() == plain.input_ids.tolist()
    assert sep.word_ids[real].tolist() == plain.word_ids.tolist()
    has = plain.first_subword >= 0
    assert (sep.first_subword >= 0).tolist() == has.tolist()
    assert (sep.input_ids[sep.first_subword[has]] == plain.input_ids[plain.first_subword[has]]).all()
    for i in sorted(inside):  # the separator sits right before the word's first subword
        f = sep.first_subword[i]
        if f >= len(dot) and has[i]:
            assert sep.word_ids[f - 1] == -1 and sep.input_ids[f - len(dot):f].tolist() == dot
