"""clinlm ``Document`` <-> spaCy ``Doc``, so medspaCy and displaCy work with clinlm output.

``to_spacy(document)`` tokenizes the text (``doc.text == document.text``, always) and makes
every entity a span labelled with its type: all of them in the span group ``clinlm``
(overlaps allowed) and, for displaCy, the longest non-overlapping ones in ``doc.ents``.
A span covers whole tokens (``char_span(..., alignment_mode="expand")``); the entity itself
(exact offsets, score, attributes) stays reachable as ``span._.clinlm``, and its context
flags are also set on medspaCy's ``span._.is_negated`` ... ``is_family`` when medspaCy is loaded.
``add_spans(doc, entities)`` does the same on a Doc someone else made (the ``clinlm`` component).

``from_spacy(doc)`` reads the spans back: a span made by ``to_spacy`` gives back its entity
exactly (offsets included, even when the span was widened to token boundaries); any other
span (from a spaCy/medspaCy pipeline) becomes an entity with the span's offsets, label,
and medspaCy's context flags and section when it has them. Entities that cover no token
(whitespace only) have no span and are carried through on the Doc.
"""
from __future__ import annotations

from typing import Any, Sequence

from clinlm.document import Document, Entity

#: Name of the span group holding clinlm's entities.
GROUP = "clinlm"

#: medspaCy's span extension for each clinlm flag.
MEDSPACY_FLAGS = {
    "negated": "is_negated",
    "uncertain": "is_uncertain",
    "historical": "is_historical",
    "hypothetical": "is_hypothetical",
    "family": "is_family",
}

_BLANK = None


def _blank():
    global _BLANK
    if _BLANK is None:
        import spacy

        _BLANK = spacy.blank("en")
        _BLANK.max_length = 10**9  # tokenizer only: long notes are fine
    return _BLANK


def _entity_of(span) -> Entity | None:
    entities = span.doc._.clinlm_entities
    i = span.id_
    if entities is None or not i.isdigit() or int(i) >= len(entities):
        return None
    e = entities[int(i)]
    return e if e.label == span.label_ else None  # a relabelled span is a new entity


def register_extensions() -> None:
    """``Doc._.clinlm_id``, ``Doc._.clinlm_metadata``, ``Doc._.clinlm_entities``, ``Span._.clinlm``."""
    from spacy.tokens import Doc, Span

    for name, default in (("clinlm_id", None), ("clinlm_metadata", None), ("clinlm_entities", None)):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=default)
    if not Span.has_extension("clinlm"):
        Span.set_extension("clinlm", getter=_entity_of)


def to_spacy(document: Document, nlp=None, *, ents: bool = True):
    """A spaCy ``Doc`` of ``document`` (tokenized by ``nlp``, default ``spacy.blank("en")``)."""
    register_extensions()
    nlp = nlp if nlp is not None else _blank()
    doc = nlp.make_doc(document.text)
    doc._.clinlm_id = document.id
    doc._.clinlm_metadata = dict(document.metadata)
    add_spans(doc, document.entities, ents=ents)
    return doc


def add_spans(doc, entities: Sequence[Entity], *, spans_key: str = GROUP, ents: bool = True) -> list:
    """Put ``entities`` (offsets into ``doc.text``) on an existing ``doc``: span group ``spans_key``
    and, with ``ents``, ``doc.ents`` (the longest non-overlapping of the doc's own ents and these;
    on a tie the ent already there stays). Shared by ``to_spacy`` and the ``clinlm`` spaCy component."""
    from spacy.tokens import Span
    from spacy.util import filter_spans

    register_extensions()
    doc._.clinlm_entities = list(entities)
    medspacy_flags = Span.has_extension("is_negated")
    spans = []
    for i, e in enumerate(doc._.clinlm_entities):
        s = doc.char_span(e.start, e.end, alignment_mode="expand")
        if s is None:
            continue  # whitespace only: no token to hang it on; from_spacy still returns it
        span = Span(doc, s.start, s.end, label=e.label, span_id=str(i))
        if medspacy_flags:
            for flag, ext in MEDSPACY_FLAGS.items():
                if e.attributes.get(flag) is True and Span.has_extension(ext):
                    span._.set(ext, True)
        spans.append(span)
    doc.spans[spans_key] = spans
    if ents:
        doc.ents = filter_spans(list(doc.ents) + spans)
    return spans


def from_spacy(doc, doc_id: str | None = None, *, metadata: dict[str, Any] | None = None) -> Document:
    """The clinlm ``Document`` of a spaCy ``Doc``: spans of group ``clinlm`` if present, else ``doc.ents``."""
    register_extensions()
    spans = list(doc.spans[GROUP]) if GROUP in doc.spans else list(doc.ents)
    entities: list[Entity] = []
    used: set[int] = set()
    for span in spans:
        e = span._.clinlm
        if e is not None:
            used.add(int(span.id_))
            entities.append(e)
        elif span.start_char < span.end_char:
            entities.append(Entity(span.start_char, span.end_char, span.label_, span.text, None, _medspacy_attributes(span)))
    own = doc._.clinlm_entities or []
    if GROUP in doc.spans:  # the entities that had no span (whitespace only)
        covered = {int(s.id_) for s in doc.spans[GROUP] if s.id_.isdigit()}
        entities += [e for i, e in enumerate(own) if i not in covered and i not in used]
    return Document(
        doc_id if doc_id is not None else (doc._.clinlm_id or "0"),
        doc.text,
        entities,
        dict(metadata if metadata is not None else (doc._.clinlm_metadata or {})),
    )


def _medspacy_attributes(span) -> dict[str, Any]:
    """Context flags and section that medspaCy's own components set on ``span``, clinlm-named."""
    from spacy.tokens import Span

    from clinlm.context.attributes import assertion_of, context_attributes

    if not Span.has_extension("is_negated"):
        return {}
    section = span._.section_category if Span.has_extension("section_category") else None
    attrs = context_attributes((), section)
    for flag, ext in MEDSPACY_FLAGS.items():
        if Span.has_extension(ext) and span._.get(ext):
            attrs[flag] = True
    attrs["assertion"] = assertion_of(attrs)
    return attrs
