"""The ``clinlm`` spaCy component: ``nlp.add_pipe("clinlm", config={"model": DIR})``.

spaCy finds the factory through the ``spacy_factories`` entry point (pyproject.toml), so nothing
has to be imported first. The component loads an :class:`NerPipeline` once, annotates
``doc.text`` and puts the entities on the Doc with :func:`clinlm.context.spacy_adapter.add_spans`
(the adapter's mapping and extensions: span group, ``doc.ents``, ``span._.clinlm`` with exact
offsets, score and attributes, medspaCy's ``span._.is_negated`` ...).

Why here and not in ``context/``: the component needs the NER pipeline, which is the tasks layer,
above ``context``. Living in ``tasks/ner`` its imports point down (tasks -> context -> core), with
no lazy upward import to hide from tests/test_architecture.py.

spaCy imports every ``spacy_factories`` entry point when a Language is made, so in an environment
with clinlm installed every ``spacy.blank("en")`` imports this module: it stays light (spaCy and
clinlm's core only) and imports the pipeline, torch and transformers when a component is built.
"""
# no ``from __future__ import annotations``: spaCy validates the factory's config against real types
from typing import Iterable, Iterator, Optional

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from clinlm.context.spacy_adapter import GROUP, add_spans, register_extensions
from clinlm.document import Document

#: The component's config and its defaults (``model: None`` is the model shipped with clinlm).
DEFAULT_CONFIG = {"model": None, "context": True, "spans_key": GROUP, "set_ents": True,
                  "batch_size": 64, "device": "auto", "precision": "auto"}


class ClinlmComponent:
    """Tags clinical concepts in each Doc with a clinlm NER model (loaded once, at construction)."""

    def __init__(self, nlp: Language, name: str = "clinlm", *, model: Optional[str] = None, context: bool = True,
                 spans_key: str = GROUP, set_ents: bool = True, batch_size: int = 64, device: str = "auto",
                 precision: str = "auto"):
        self.name = name
        self.spans_key = spans_key
        self.set_ents = set_ents
        self.batch_size = batch_size
        from clinlm.tasks.ner.pipeline import load  # torch and transformers: only when a component is built

        self.pipeline = load(model, context=context, device=device, precision=precision)
        register_extensions()

    def __call__(self, doc: Doc) -> Doc:
        return self._set(doc, self.pipeline(doc.text))

    def pipe(self, docs: Iterable[Doc], batch_size: Optional[int] = None) -> Iterator[Doc]:
        """``nlp.pipe`` runs this, notes a batch at a time through ``NerPipeline.pipe``. spaCy passes its
        buffer size (``nlp.batch_size``, 1000) as ``batch_size``; the config's ``batch_size`` caps it."""
        for chunk in minibatch(docs, size=min(batch_size or self.batch_size, self.batch_size)):
            annotated = self.pipeline.pipe([d.text for d in chunk], batch_size=len(chunk))
            for doc, document in zip(chunk, annotated):
                yield self._set(doc, document)

    def _set(self, doc: Doc, document: Document) -> Doc:
        add_spans(doc, document.entities, spans_key=self.spans_key, ents=self.set_ents)
        return doc


@Language.factory("clinlm", default_config=DEFAULT_CONFIG)
def make_clinlm(nlp: Language, name: str, model: Optional[str], context: bool, spans_key: str, set_ents: bool,
                batch_size: int, device: str, precision: str) -> ClinlmComponent:
    """The ``clinlm`` factory (entry point ``spacy_factories``)."""
    return ClinlmComponent(nlp, name, model=model, context=context, spans_key=spans_key, set_ents=set_ents,
                           batch_size=batch_size, device=device, precision=precision)
