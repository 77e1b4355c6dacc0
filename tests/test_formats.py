"""Readers and writers: round trips (hypothesis), exact file:line errors, atomic writes."""
from __future__ import annotations

import gzip
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinlm.document import Document, Entity
from clinlm.errors import ConfigError, InputError
from clinlm.formats import (FORMATS, brat, conll, guess_format, jsonl, pubtator, read_documents, read_text_file, write_documents)
from clinlm.text import entity_tags, words

# CLINLM_HYPOTHESIS_EXAMPLES=2000 for a deeper search than the quick default
SETTINGS = settings(max_examples=int(os.environ.get("CLINLM_HYPOTHESIS_EXAMPLES", "50")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- strategies -----------------------------------------------------------------------

#: Pieces that stress offsets: CRLF, tabs, repeated whitespace, astral chars, combining
#: marks, zero-width and line-separator characters, a BOM, '|'.
SPECIALS = ["\r\n", "\n", "\t", "  ", " ", "\U0001f600", "\U0001d518", "e\u0301", "\u0301", "\u200b",
            "\u2028", "\x85", "\ufeff", "ß", "中文", "|", "-DOCSTART-", "x"]
ANY_CHAR = st.characters(exclude_categories=("Cs",))  # everything UTF-8 can encode
XML_CHAR = st.characters(
    exclude_categories=("Cs",),
    exclude_characters="".join(chr(c) for c in range(32) if chr(c) not in "\t\n\r") + "\ufffe\uffff",
)
LABELS = st.sampled_from(["T038", "T103", "Disease", "drug_name"])
IDS = st.from_regex(r"[A-Za-z0-9_-]{1,10}", fullmatch=True)
PMIDS = st.from_regex(r"[1-9][0-9]{0,7}", fullmatch=True)


def texts(alphabet=ANY_CHAR, specials=SPECIALS, max_pieces=12):
    piece = st.one_of(st.sampled_from(specials), st.text(alphabet, min_size=1, max_size=6))
    return st.lists(piece, max_size=max_pieces).map("".join)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(ANY_CHAR, max_size=5)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(ANY_CHAR, max_size=4), c, max_size=3), max_leaves=5
)


@st.composite
def spans(draw, text, max_n=5, ok=lambda s: True):
    out = []
    if text:
        for _ in range(draw(st.integers(0, max_n))):
            s = draw(st.integers(0, len(text) - 1))
            e = draw(st.integers(s + 1, min(len(text), s + 12)))
            if ok(text[s:e]):
                out.append((s, e))
    return out


@st.composite
def documents(draw, text=texts(), doc_id=IDS, attrs=st.just({}), scores=st.just(None), metadata=st.just({}), span_ok=lambda s: True):
    t = draw(text)
    ents = [Entity(s, e, draw(LABELS), t[s:e], draw(scores), draw(attrs)) for s, e in draw(spans(t, ok=span_ok))]
    return Document(draw(doc_id), t, ents, draw(metadata))


def unique_ids(docs):
    seen, out = set(), []
    for d in docs:
        if d.id not in seen:
            seen.add(d.id)
            out.append(d)
    return out


def fresh(tmp_path: Path) -> Path:
    """A new empty folder per hypothesis example (tmp_path is shared by all of them)."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


def check_slices(docs):
    for d in docs:
        for e in d.entities:
            assert d.text[e.start : e.end] == e.text


def where(path, line):
    return re.escape(f"{path}:{line}: ")


# --- JSONL ------------------------------------------------------------------------------

JSONL_DOCS = st.lists(
    documents(
        attrs=st.dictionaries(st.text(ANY_CHAR, max_size=5), JSON_VALUES, max_size=3),
        scores=st.none() | st.floats(allow_nan=False, allow_infinity=False),
        metadata=st.dictionaries(st.text(ANY_CHAR, max_size=5), JSON_VALUES, max_size=3),
        doc_id=st.text(ANY_CHAR, max_size=8),
    ),
    max_size=4,
)


@SETTINGS
@given(docs=JSONL_DOCS)
def test_jsonl_round_trip(docs, tmp_path):
    path = fresh(tmp_path) / "docs.jsonl"
    write_documents(docs, path, "jsonl")
    back = read_documents(path)
    assert back == docs
    assert jsonl.loads(jsonl.dumps(docs)) == docs
    check_slices(back)


def test_jsonl_gzip(tmp_path):
    docs = [Document("a", "x\r\ny", [Entity(0, 1, "L", "x", 0.5, {"neg": True})], {"k": [1, 2]})]
    write_documents(docs, tmp_path / "d.jsonl.gz")
    assert gzip.decompress((tmp_path / "d.jsonl.gz").read_bytes()).decode().count("\n") == 1
    assert read_documents(tmp_path / "d.jsonl.gz") == docs


def test_jsonl_errors(tmp_path):
    good = json.dumps(Document("a", "abc").to_dict())
    cases = [
        ("{not json", 2, "invalid JSON"),
        (json.dumps({"id": "b"}), 2, "no 'text' key"),
        (json.dumps({"id": "b", "text": "abc", "entities": [{"start": 0, "end": 2, "label": "L"}]}), 2, "no 'text' key"),
        (json.dumps({"id": "b", "text": "abc", "entities": [{"start": 0, "end": 2, "label": "L", "text": "xx"}]}), 2,
         "do not match the text"),
        (json.dumps({"id": "b", "text": "abc", "entities": [{"start": "0", "end": 2, "label": "L", "text": "ab"}]}), 2,
         "must be an integer"),
        ("[1, 2]", 2, "expected a JSON object"),
    ]
    for bad, line, msg in cases:
        path = tmp_path / "bad.jsonl"
        path.write_text(good + "\n" + bad + "\n" + good + "\n", encoding="utf-8")
        with pytest.raises(InputError, match=where(path, line) + ".*" + re.escape(msg)) as exc:
            read_documents(path)
        assert exc.value.line == line and exc.value.path == str(path)
        assert "\n" not in str(exc.value)


# --- PubTator ---------------------------------------------------------------------------

PUB_TEXT = texts(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\n\r"),
                 specials=[s for s in SPECIALS if "\n" not in s and "\r" not in s])


@st.composite
def pubtator_docs(draw):
    title = draw(PUB_TEXT)
    abstract = draw(st.none() | PUB_TEXT)
    text = title if abstract is None else title + " " + abstract
    ents = []
    for s, e in draw(spans(text, ok=lambda m: "\t" not in m)):
        label = draw(st.sampled_from(["T038", "T103", "T017"]))
        attrs = {}
        if draw(st.booleans()):
            attrs["concept"] = draw(st.from_regex(r"UMLS:C[0-9]{7}", fullmatch=True))
        if draw(st.booleans()):
            attrs["types"] = [label, draw(st.sampled_from(["T033", "T062"]))]
        ents.append(Entity(s, e, label, text[s:e], None, attrs))
    return Document(draw(PMIDS), text, ents, {"title_length": len(title)})


@SETTINGS
@given(docs=st.lists(pubtator_docs(), max_size=4))
def test_pubtator_round_trip(docs, tmp_path):
    path = fresh(tmp_path) / "corpus.pubtator"
    write_documents(docs, path)
    back = read_documents(path)
    assert back == docs
    check_slices(back)
    s = pubtator.dumps(docs)
    assert pubtator.dumps(pubtator.loads(s)) == s


def test_pubtator_format_details():
    s = "1|t|Head|line\n1|a|Body\n1\t0\t4\tHead\tT038,T033\tUMLS:C1\n1\t5\t9\tline\tT017\n1\tCID\tD1\tD2\n\n2|t|Only title\n"
    docs = pubtator.loads(s)
    assert docs[0].text == "Head|line Body"
    assert docs[0].metadata == {"title_length": 9, "pubtator_relations": [["CID", "D1", "D2"]]}
    assert docs[0].entities[0].label == "T038"
    assert docs[0].entities[0].attributes == {"types": ["T038", "T033"], "concept": "UMLS:C1"}
    assert docs[0].entities[1].attributes == {}  # a 5-column line: no concept
    assert docs[1].text == "Only title"
    assert pubtator.dumps(docs) == s


def test_pubtator_errors(tmp_path):
    head = "123|t|Fever and cough\n123|a|No rash.\n"
    cases = [
        ("123\t0\t5\tFevers\tT033\tUMLS:C1\n", 3, "mention 'Fevers' does not match the text at 0-5"),
        ("123\t0\tfive\tFever\tT033\tUMLS:C1\n", 3, "start and end must be integers"),
        ("123\t0\t99\tFever\tT033\tUMLS:C1\n", 3, "offsets 0-99 do not fit the text"),
        ("999\t0\t5\tFever\tT033\tUMLS:C1\n", 3, "annotation line for PMID '999' inside document 123"),
        ("123\t0\t5\tFever\tT033\tUMLS:C1\njunk line\n", 4, "expected 'PMID|t|title'"),
    ]
    for tail, line, msg in cases:
        path = tmp_path / "bad.pubtator"
        path.write_text(head + tail, encoding="utf-8")
        with pytest.raises(InputError, match=where(path, line) + re.escape(msg)):
            read_documents(path)
    path.write_text("5|a|abstract first\n", encoding="utf-8")
    with pytest.raises(InputError, match=where(path, 1) + "abstract line"):
        read_documents(path)


def test_pubtator_writer_refuses_line_breaks(tmp_path):
    with pytest.raises(InputError, match="line break|cannot hold"):
        pubtator.dumps([Document("1", "a\nb")])


@pytest.mark.integration
def test_pubtator_medmentions_sample(shared_data, tmp_path):
    src = shared_data / "medmentions" / "sample_st21pv_3docs.pubtator"
    docs = read_documents(src)
    assert len(docs) == 3 and sum(len(d.entities) for d in docs) == 115
    check_slices(docs)
    assert all(e.attributes["concept"].startswith("UMLS:") for d in docs for e in d.entities)
    out = tmp_path / "again.pubtator"
    write_documents(docs, out, "pubtator")
    assert out.read_bytes() == src.read_bytes()  # byte for byte
    gz = tmp_path / "corpus_pubtator.txt.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    assert guess_format(gz) == "pubtator"
    assert read_documents(gz) == docs


# --- CoNLL ------------------------------------------------------------------------------


@st.composite
def word_aligned_docs(draw):
    """Documents whose entities are whole words of one line and never overlap."""
    text = draw(texts())
    w = words(text)
    line_of = [text.count("\n", 0, s) for s in w.starts]
    ents, i = [], 0
    while i < len(w):
        if draw(st.integers(0, 2)) == 0:
            j = i + 1
            while j < len(w) and line_of[j] == line_of[i] and j - i < 3 and draw(st.booleans()):
                j += 1
            s, e = w.starts[i], w.ends[j - 1]
            ents.append(Entity(s, e, draw(LABELS), text[s:e]))
            i = j
        else:
            i += 1
    return Document(draw(IDS), text, ents)


@SETTINGS
@given(docs=st.lists(word_aligned_docs(), max_size=3))
def test_conll_round_trip_tokens_and_tags(docs, tmp_path):
    path = fresh(tmp_path) / "docs.conll"
    write_documents(docs, path)
    back = read_documents(path)
    assert [d.id for d in back] == [d.id for d in docs]
    for d, b in zip(docs, back):
        wd, wb = words(d.text), words(b.text)
        assert wb.strings() == wd.strings()
        assert entity_tags(wb, b.entities) == entity_tags(wd, d.entities)
        assert len([s for s in conll.sentences(b)]) == len(conll.sentences(d))
        check_slices([b])
    tagged = conll.read_tagged(path)
    for d, td in zip(docs, tagged):
        assert [t for s in td.tags for t in s] == entity_tags(words(d.text), d.entities)


def test_conll_reading_rules():
    s = "-DOCSTART- (111)\n\nHeart\tO\tB-X\nattack\tO\tI-X\n.\tO\tO\n\nI\tI-Y\nsee\tO\nwell\tI-Z\n\n-DOCSTART- -X- -X- O\n\nA B-Y\n"
    d1, d2 = conll.loads(s)
    assert d1.id == "111" and d1.text == "Heart attack .\nI see well"
    assert [(e.text, e.label) for e in d1.entities] == [("Heart attack", "X"), ("I", "Y"), ("well", "Z")]
    assert d2.id == "doc-2" and d2.text == "A" and d2.entities[0].label == "Y"
    # no DOCSTART: the whole file is one document named after the file
    (doc,) = conll.loads("a\tO\n\nb\tB-L\n", "/x/notes.conll")
    assert doc.id == "notes" and doc.text == "a\nb"
    # strict IOB2: an I- that does not continue its own type starts nothing
    assert conll.strict_spans(["B-A", "I-B", "I-B", "O", "I-A", "B-A", "I-A"]) == [(0, 1, "A"), (5, 7, "A")]


def test_conll_errors(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("-DOCSTART- (1)\n\nfever\tO\tX-T038\n", encoding="utf-8")
    with pytest.raises(InputError, match=where(path, 3) + re.escape("bad tag 'X-T038'")):
        read_documents(path)
    path.write_text("-DOCSTART- (1)\n\nfever\tO\nlonely\n", encoding="utf-8")
    with pytest.raises(InputError, match=where(path, 4) + "expected a token and its BIO tag"):
        read_documents(path)


@pytest.mark.integration
def test_conll_medmentions_dev(shared_data):
    docs = read_documents(shared_data / "medmentions" / "full-dev.conll")
    assert len(docs) == 878
    assert docs[0].id == "26797704" and docs[0].text.startswith("The Impact of Deployment on Parental")
    check_slices(docs[:20])


# --- BRAT -------------------------------------------------------------------------------

BRAT_ATTRS = st.dictionaries(
    st.from_regex(r"[A-Za-z][A-Za-z_]{0,7}", fullmatch=True),
    st.just(True) | st.from_regex(r"[A-Za-z0-9_:.\-]{1,8}", fullmatch=True),
    max_size=3,
)


@SETTINGS
@given(docs=st.lists(documents(attrs=BRAT_ATTRS), max_size=4).map(unique_ids))
def test_brat_round_trip(docs, tmp_path):
    out = fresh(tmp_path) / "brat"
    write_documents(docs, out, "brat")
    back = {d.id: d for d in read_documents(out)}
    assert set(back) == {d.id for d in docs}
    for d in docs:
        assert back[d.id].text == d.text
        assert back[d.id].entities == d.entities  # offsets, labels, texts and attributes
    check_slices(back.values())
    # one pair read by either name
    if docs:
        d = docs[0]
        assert read_documents(out / f"{d.id}.ann")[0].entities == d.entities
        assert brat.read(out / f"{d.id}.txt")[0].entities == d.entities


def test_brat_lines_kept_and_crlf(tmp_path):
    (tmp_path / "n1.txt").write_bytes("No fever.\r\nChest pain\r\n".encode())
    (tmp_path / "n1.ann").write_text(
        "T1\tSymptom 3 8\tfever\nT2\tSymptom 11 21\tChest pain\nA1\tNegated T1\nA2\tSeverity T2 mild\n"
        "R1\tRel Arg1:T1 Arg2:T2\n#1\tAnnotatorNotes T2\tcheck\nN1\tReference T1 UMLS:C0015967\tFever\n"
        "E1\tEv:T2\n*\tEquiv T1 T2\n",
        encoding="utf-8",
    )
    (doc,) = read_documents(tmp_path / "n1.ann")
    assert [(e.text, e.attributes) for e in doc.entities] == [
        ("fever", {"Negated": True}),
        ("Chest pain", {"Severity": "mild"}),
    ]
    assert [(r.label, r.head.text, r.tail.text) for r in doc.relations] == [("Rel", "fever", "Chest pain")]
    assert "brat_relations" not in doc.metadata  # entity-entity R lines are Document.relations
    assert doc.metadata["brat_notes"][0]["text"] == "check"
    assert doc.metadata["brat_normalizations"][0]["target"] == "UMLS:C0015967"
    out = tmp_path / "out"
    brat.write([doc], out)
    again = brat.read(out)[0]
    assert again.entities == doc.entities and again.metadata == doc.metadata and again.relations == doc.relations


def test_brat_errors(tmp_path):
    (tmp_path / "d.txt").write_text("left knee pain", encoding="utf-8")
    ann = tmp_path / "d.ann"
    cases = [
        ("T1\tPain 10 14\tpain\nT2\tBody 0 4;5 9\tleft knee\n", 2, "discontinuous spans ('0 4;5 9') are not supported"),
        ("T1\tPain 10 14\tpian\n", 1, "entity text 'pian' does not match the .txt at 10 14"),
        ("T1\tPain 10 x\tpain\n", 1, "bad span '10 x'"),
        ("T1\tPain 10 14\tpain\nA1\tNegated T9\n", 2, "reference to 'T9'"),
        ("T1\tPain 10 14\tpain\nQ1\tfoo\n", 2, "unknown annotation line"),
        ("T1\tPain 10 40\tpain\n", 1, "span 10-40 does not fit the text of d"),
    ]
    for content, line, msg in cases:
        ann.write_text(content, encoding="utf-8")
        with pytest.raises(InputError, match=where(ann, line) + re.escape(msg)):
            read_documents(ann)
    ann.write_text("T2\tBody 0 4;5 9\tleft knee\n", encoding="utf-8")
    (doc,) = read_documents(ann, discontinuous="merge")
    assert doc.entities[0].text == "left knee" and doc.entities[0].span == (0, 9)
    (tmp_path / "orphan.ann").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="orphan.ann: no matching orphan.txt"):
        read_documents(tmp_path)


def test_brat_writer_refuses_bad_values(tmp_path):
    doc = Document("d", "ab", [Entity(0, 1, "has space", "a")])
    with pytest.raises(InputError, match="label"):
        brat.write([doc], tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())
    with pytest.raises(InputError, match="file name"):
        brat.write([Document("../x", "ab")], tmp_path / "out")


# --- BioC XML ---------------------------------------------------------------------------

BIOC_ATTRS = st.dictionaries(
    st.text(XML_CHAR, min_size=1, max_size=5),
    st.booleans() | st.integers() | st.text(XML_CHAR, max_size=6),
    max_size=3,
)


@SETTINGS
@given(docs=st.lists(
    documents(
        text=texts(alphabet=XML_CHAR),
        attrs=BIOC_ATTRS,
        scores=st.none() | st.floats(allow_nan=False, allow_infinity=False),
        metadata=st.dictionaries(st.text(XML_CHAR, min_size=1, max_size=5), st.text(XML_CHAR, max_size=5) | st.integers(), max_size=2),
    ),
    max_size=3,
))
def test_bioc_round_trip(docs, tmp_path):
    path = fresh(tmp_path) / "c.xml"
    write_documents(docs, path)
    back = read_documents(path)
    assert back == docs
    check_slices(back)


def test_bioc_passages_joined_by_offset(tmp_path):
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<collection><source>x</source><date/><key/>
<document><id>42</id>
<passage><infon key="type">title</infon><offset>0</offset><text>Aspirin use</text>
<annotation id="1"><infon key="type">Chemical</infon><location offset="0" length="7"/><text>Aspirin</text></annotation>
</passage>
<passage><infon key="type">abstract</infon><offset>12</offset><text>Aspirin helps.</text>
<annotation id="2"><infon key="type">Chemical</infon><location offset="12" length="7"/><text>Aspirin</text></annotation>
</passage>
</document></collection>
"""
    path = tmp_path / "p.xml"
    path.write_text(xml, encoding="utf-8")
    (doc,) = read_documents(path)
    assert doc.text == "Aspirin use Aspirin helps."
    assert [e.span for e in doc.entities] == [(0, 7), (12, 19)]
    out = tmp_path / "q.xml"
    write_documents([doc], out)
    assert read_documents(out) == [doc]  # the two passages come back


def test_bioc_errors(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text("<collection>\n<document>\n<id>1</id>\n</collection>\n", encoding="utf-8")
    with pytest.raises(InputError, match=where(path, 4) + "not well-formed XML"):
        read_documents(path)
    doc = "<collection><source/><date/><key/>\n<document><id>1</id><passage><offset>0</offset><text>chest pain</text>\n{ann}\n</passage></document></collection>"
    cases = [
        ('<annotation id="1"><infon key="type">S</infon><location offset="0" length="5"/><text>chess</text></annotation>',
         3, "annotation text 'chess' does not match the document at 0-5"),
        ('<annotation id="1"><location offset="0" length="5"/><text>chest</text></annotation>', 3, "<annotation> without a 'type' infon"),
        ('<annotation id="1"><infon key="type">S</infon><location offset="0" length="5"/><location offset="6" length="4"/></annotation>',
         3, "annotations with several locations (discontinuous) are not supported"),
    ]
    for ann, line, msg in cases:
        path.write_text(doc.format(ann=ann), encoding="utf-8")
        with pytest.raises(InputError, match=where(path, line) + re.escape(msg)):
            read_documents(path)
    (merged,) = read_documents(path, discontinuous="merge")
    assert merged.entities[0].text == "chest pain"


def test_bioc_writer_refuses_xml_invalid_text(tmp_path):
    with pytest.raises(InputError, match="U\\+0001 .* cannot be stored in XML"):
        write_documents([Document("1", "a\x01b")], tmp_path / "x.xml")
    assert not list(tmp_path.iterdir())


# --- shared helpers ---------------------------------------------------------------------


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_bytes(b'{"id": "1", "text": "ok"}\n{"id": "2", "text": "caf\xe9"}\n')
    with pytest.raises(InputError, match=where(path, 2) + r"not valid UTF-8: byte 0xe9 at column 25"):
        read_text_file(path)
    with pytest.raises(InputError, match=where(path, 2)):
        read_documents(path)
    gz = tmp_path / "notes.pubtator.gz"
    gz.write_bytes(gzip.compress(b"1|t|a\n1|a|\xff\n"))
    with pytest.raises(InputError, match=where(gz, 2) + "not valid UTF-8"):
        read_documents(gz)
    with pytest.raises(InputError, match="file not found"):
        read_text_file(tmp_path / "missing.txt")


def test_read_text_file_keeps_crlf(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"a\r\nb\r")
    assert read_text_file(tmp_path / "a.txt") == "a\r\nb\r"


def test_guess_format(tmp_path):
    assert set(FORMATS) == {"jsonl", "pubtator", "conll", "brat", "bioc"}
    for name, fmt in [("a.jsonl", "jsonl"), ("a.jsonl.gz", "jsonl"), ("corpus_pubtator.txt.gz", "pubtator"),
                      ("a.pubtator", "pubtator"), ("a.bio", "conll"), ("a.iob", "conll"), ("a.conll", "conll"),
                      ("a.ann", "brat"), ("a.xml", "bioc")]:
        assert guess_format(tmp_path / name) == fmt
    assert guess_format(tmp_path) == "brat"
    (tmp_path / "n.ann").write_text("")
    assert guess_format(tmp_path / "n.txt") == "brat"
    with pytest.raises(ConfigError):
        guess_format(tmp_path / "a.csv")
    with pytest.raises(ConfigError):
        read_documents(tmp_path / "a.jsonl", format="nope")


def _failing(docs):
    yield from docs
    raise RuntimeError("disk on fire")


@pytest.mark.parametrize("fmt,name", [("jsonl", "o.jsonl"), ("pubtator", "o.pubtator"), ("conll", "o.conll"),
                                      ("bioc", "o.xml"), ("jsonl", "o.jsonl.gz"), ("brat", "o_brat")])
def test_atomic_write_keeps_old_output(tmp_path, fmt, name):
    docs = [Document("1", "fever today", [Entity(0, 5, "T033", "fever")], {"title_length": 5})]
    out = tmp_path / name
    write_documents(docs, out, fmt)
    files = lambda: sorted(out.iterdir()) if out.is_dir() else [out]  # noqa: E731
    before = {p: p.read_bytes() for p in files()}
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_documents(_failing(docs * 2 if fmt != "brat" else [Document("2", "x")]), out, fmt)
    after = {p: p.read_bytes() for p in files()}
    assert after == before
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary files left
    assert len(read_documents(out, fmt)) == 1


def test_atomic_write_on_bad_document(tmp_path):
    out = tmp_path / "o.pubtator"
    out.write_text("OLD", encoding="utf-8")
    with pytest.raises(InputError):
        write_documents([Document("1", "fine"), Document("2", "line\nbreak")], out, "pubtator")
    assert out.read_text() == "OLD" and os.listdir(tmp_path) == ["o.pubtator"]
