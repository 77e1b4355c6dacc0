"""Training NER from several corpora, some of them partially annotated, with the marginal likelihood.

A **source** is one training file and what its annotation means for the model's labels:

- no ``map`` (the default): fully annotated, like MM-ST21pv-r. Every word outside a mention is O
  and the loss is the usual cross-entropy.
- a ``map`` from the source's types to model labels, e.g. BC5CDR ``{"Chemical": ["T103"],
  "Disease": ["T038", "T033", "T037"]}``: partially annotated. A mention of a type mapped to
  several labels may be any of them; a type mapped to ``[]`` is ignored (its words count as
  unannotated). ``covers`` names the model labels the source annotates *exhaustively* (default:
  every label its map reaches); a word the source leaves unannotated may be O or any label it does
  not cover. ``covers`` without a ``map`` takes the source's types as model labels.
- ``weight`` scales the source's share of the loss (default 1).

The loss is the token-level marginal likelihood of Greenberg et al. (EMNLP 2018, "Marginal
likelihood training of BiLSTM-CRF for biomedical NER from disjoint label sets"), here with the
per-token softmax head instead of their CRF: each scored word's first subword has a set of
*allowed* tags and its loss is ``-log sum_{t allowed} p(t)``. A fully annotated word allows just its
gold tag, which is exactly cross-entropy; a word that allows every tag carries no information and
is not scored. The allowed sets are derived, never stored: :func:`word_tag_sets` computes them from
a Document's entities and its source when the task builds features.

**The Disease map** (``DISEASE_ST21PV``). BC5CDR's Disease and NCBI-disease's four types are
MeSH/MEDIC diseases. In the UMLS semantic network their concepts are Disease or Syndrome (T047),
Neoplastic Process (T191), Mental or Behavioral Dysfunction (T048), Pathologic Function (T046),
Cell or Molecular Dysfunction (T049), which ST21pv collapses to T038 Biologic Function (they sit
under Pathologic Function); Sign or Symptom (T184), which it collapses to T033 Finding; and Injury
or Poisoning (T037), kept as T037 (``../shared/data/medmentions/st21pv_ancestor.tsv``). Congenital
Abnormality (T019) collapses to T017 Anatomical Structure, but it is left out: BC5CDR Disease
mentions whose text MM-ST21pv-r train annotates get T038 1,009 times, T033 317, T037 118 and
T017 only 11 (<1%), and allowing T017 for every disease mention would let the model keep typing
findings as anatomy, a known failure of the v1 model.

**Why the presets cover nothing.** BC5CDR and NCBI-disease annotate every chemical or disease,
but each ST21pv label they map to holds more than that: T103 Chemical includes the proteins, genes'
products and generic "drug"/"placebo" mentions MM annotates and BC5CDR does not; T038 includes
physiologic functions (expression, metabolism); T033 includes findings ("symptoms", "positive").
The v1 model's T103 predictions on BC5CDR train overlap a Chemical mention only 72% of the time,
T038 66%, T033 27%. So their presets declare ``covers: []``: their unannotated words allow every
tag (no loss), and they teach the type of what they annotate, not what is O.

**Boundaries still hold.** Covering nothing must not mean teaching nothing about where a mention
ends: trained that way (4 epochs, MM dev strict 0.4944), the model ran spans on over the next word
and the full stop on whole clinical notes ("Chest pain.", "Lisinopril 20 mg", list numbers as T103).
So :func:`word_tag_sets` keeps two rules for every partial source: the word right after a mention
takes no ``I-`` tag, and a punctuation mark takes no ``B-`` tag (a full stop after a mention is O).
"""
from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence


from clinlm.document import Document, Entity
from clinlm.errors import ConfigError, InputError
from clinlm.labels import OUTSIDE, split_tag
from clinlm.text import Words, entity_tags

_PUNCT = re.compile(r"[^\w\s]")

#: The ST21pv labels a disease mention may take (see the module docstring).
DISEASE_ST21PV = ["T038", "T033", "T037"]

#: Built-in maps, by name: ``--train PATH:bc5cdr``.
PRESETS: dict[str, dict[str, Any]] = {
    "bc5cdr": {"map": {"Chemical": ["T103"], "Disease": DISEASE_ST21PV}, "covers": []},
    "ncbi-disease": {
        "map": {t: DISEASE_ST21PV for t in ("SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention")},
        "covers": [],
    },
}

SAMPLING = ("proportional", "equal")
_KEYS = {"path", "map", "covers", "weight", "name"}


@dataclass
class Source:
    """One training (or report) corpus and how its annotation maps to the model's labels."""

    path: Path
    map: dict[str, list[str]] | None = None
    covers: list[str] | None = None
    weight: float = 1.0
    name: str = ""
    preset: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.path.name

    @property
    def full(self) -> bool:
        """Fully annotated: every word outside a mention is O."""
        return self.map is None and self.covers is None

    def where(self) -> str:
        return f"source {self.name!r} ({self.path})"

    def targets(self, source_type: str) -> list[str]:
        """Model labels a mention of ``source_type`` may take ([] = ignored)."""
        if self.map is None:
            return [source_type]
        return self.map.get(source_type, [])

    def covered(self) -> set[str]:
        if self.full:
            raise ValueError("a fully annotated source covers every label")
        if self.covers is not None:
            return set(self.covers)
        return {l for ls in (self.map or {}).values() for l in ls}

    def check_labels(self, labels: Iterable[str]) -> None:
        """Every label the map or ``covers`` names must be one of the model's."""
        known = set(labels)
        named = {l for ls in (self.map or {}).values() for l in ls} | set(self.covers or [])
        unknown = sorted(named - known)
        if unknown:
            raise ConfigError(f"{self.where()}: label(s) {', '.join(unknown)} are not among the model's labels "
                              f"({', '.join(sorted(known))})")

    def score_map(self, docs: Sequence[Document]) -> dict[str, list[str]] | None:
        """How to score ``docs`` from this source: ``None`` when fully annotated in the model's labels,
        else source type → model labels (a ``covers``-only source scores each type as itself)."""
        if self.full:
            return None
        return self.map or {t: [t] for t in {e.label for d in docs for e in d.entities}}

    def check_types(self, docs: Sequence[Document]) -> None:
        """A mapped source must map every type it contains (``[]`` to ignore one)."""
        if self.map is None:
            return
        found: dict[str, int] = {}
        for d in docs:
            for e in d.entities:
                found[e.label] = found.get(e.label, 0) + 1
        missing = sorted(t for t in found if t not in self.map)
        if missing:
            counts = ", ".join(f"{t} ({found[t]})" for t in missing)
            raise ConfigError(f"{self.where()}: type(s) {counts} are in the data but not in the source's map; "
                              "map each to model labels, or to [] to ignore it")

    def describe(self, docs: Sequence[Document] | None = None) -> dict[str, Any]:
        """What the checkpoint's ``clinlm.json`` records about the source."""
        from clinlm.manifest import fingerprint

        out: dict[str, Any] = {"name": self.name, "path": str(self.path), "fingerprint": fingerprint(files_of(self.path)),
                               "annotation": "full" if self.full else "partial", "weight": self.weight}
        if self.preset:
            out["preset"] = self.preset
        if self.map is not None:
            out["map"] = self.map
        if not self.full:
            out["covers"] = sorted(self.covered())
        if docs is not None:
            out["documents"] = len(docs)
            out["mentions"] = sum(len(d.entities) for d in docs)
        return out


@dataclass
class Sourced:
    """A training document and the source it comes from."""

    document: Document
    source: Source | None = None


def files_of(path: str | Path) -> list[Path]:
    """The files behind a path (a brat folder's files, sorted), for fingerprints."""
    path = Path(path)
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


# -- the spec ------------------------------------------------------------------------------------------
def parse_arg(text: str, index: int = 1) -> Source:
    """``PATH`` (fully annotated) or ``PATH:MAP`` with a built-in map name (``bc5cdr``, ``ncbi-disease``)."""
    path, preset = text, None
    if ":" in text and not Path(text).exists():
        head, _, tail = text.rpartition(":")
        if "/" not in tail and "\\" not in tail:
            path, preset = head, tail
            if preset not in PRESETS:
                raise ConfigError(f"source {index} ({text}): unknown map {preset!r}; built-in maps: "
                                  f"{', '.join(PRESETS)} (or describe the source in a --sources JSON file)")
    if not path:
        raise ConfigError(f"source {index} ({text}): no path")
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"source {index} ({text}): {path} not found")
    if preset is None:
        return Source(p)
    spec = PRESETS[preset]
    return Source(p, map=_copy_map(spec["map"]), covers=list(spec["covers"]), preset=preset)


def parse_spec(obj: Any, index: int = 1, base: Path | None = None) -> Source:
    """One source from a JSON object ``{"path", "map"?, "covers"?, "weight"?, "name"?}``; ``map`` may
    be a built-in map name; a relative path is taken from ``base`` (the JSON file's folder)."""
    label = f"source {index}"
    if not isinstance(obj, dict):
        raise ConfigError(f"{label}: expected an object with a \"path\", got {json.dumps(obj)[:60]}")
    if isinstance(obj.get("path"), str) and obj["path"]:
        label += f" ({obj['path']})"
    unknown = sorted(set(obj) - _KEYS)
    if unknown:
        raise ConfigError(f"{label}: unknown key(s) {', '.join(unknown)}; a source has {', '.join(sorted(_KEYS))}")
    path = obj.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{label}: \"path\" must be a non-empty string")
    p = Path(path)
    if base is not None and not p.is_absolute():
        p = base / p
    if not p.exists():
        raise ConfigError(f"{label}: {p} not found")
    preset = None
    mapping = obj.get("map")
    covers = obj.get("covers")
    if isinstance(mapping, str):
        if mapping not in PRESETS:
            raise ConfigError(f"{label}: unknown map {mapping!r}; built-in maps: {', '.join(PRESETS)}")
        preset = mapping
        mapping = _copy_map(PRESETS[preset]["map"])
        if "covers" not in obj:
            covers = list(PRESETS[preset]["covers"])
    elif mapping is not None:
        if not isinstance(mapping, dict) or not mapping:
            raise ConfigError(f"{label}: \"map\" must be a non-empty object from the source's types to model labels")
        clean: dict[str, list[str]] = {}
        for k, v in mapping.items():
            v = [v] if isinstance(v, str) else v
            if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
                raise ConfigError(f"{label}: map value of {k!r} must be a label or a list of labels, got {json.dumps(v)}")
            if any(x == OUTSIDE for x in v):
                raise ConfigError(f"{label}: map value of {k!r} names O; map a type to [] to ignore it")
            clean[k] = list(dict.fromkeys(v))
        mapping = clean
    if covers is not None and (not isinstance(covers, list) or not all(isinstance(x, str) and x for x in covers)):
        raise ConfigError(f"{label}: \"covers\" must be a list of model labels")
    weight = obj.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
        raise ConfigError(f"{label}: \"weight\" must be a positive number, got {json.dumps(weight)}")
    name = obj.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"{label}: \"name\" must be a string")
    return Source(p, map=mapping, covers=covers, weight=float(weight), name=name, preset=preset)


def read_spec_file(path: str | Path) -> tuple[list[Source], list[Source]]:
    """A ``--sources`` JSON file: a list of training sources, or ``{"train": [...], "report_dev": [...]}``."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: sources file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"not a JSON sources file ({e})", str(path)) from None
    if isinstance(obj, list):
        obj = {"train": obj}
    if not isinstance(obj, dict) or set(obj) - {"train", "report_dev"}:
        raise InputError("expected a list of sources or an object with \"train\" and \"report_dev\" lists", str(path))
    out = []
    for key in ("train", "report_dev"):
        items = obj.get(key) or []
        if not isinstance(items, list):
            raise InputError(f"\"{key}\" must be a list of sources", str(path))
        try:
            out.append([parse_spec(s, i, path.parent) for i, s in enumerate(items, 1)])
        except ConfigError as e:
            raise ConfigError(f"{path}: {key} {e}") from None
    return out[0], out[1]


def _copy_map(m: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: list(v) for k, v in m.items()}


def model_types(sourced: Sequence[Sourced]) -> set[str]:
    """The entity types a model trained on these sources needs: full sources' types and every map target."""
    types: set[str] = set()
    for item in sourced:
        if item.source is None or item.source.map is None:  # types as they are
            types.update(e.label for e in item.document.entities)
    for src in {id(s.source): s.source for s in sourced if s.source is not None}.values():
        for ls in (src.map or {}).values():
            types.update(ls)
    return types


# -- allowed tags ---------------------------------------------------------------------------------------
def word_tag_sets(w: Words, doc: Document, source: Source | None, label2id: dict[str, int]) -> list[frozenset[int]]:
    """The tag ids each word of ``doc`` may take under its source.

    Fully annotated: the gold tag (a type the model lacks is O, as in single-source training).
    Partial: a word of a mention of type S allows ``B-l`` (first word) or ``I-l`` (the rest) for each
    label ``l`` S maps to; any other word allows O and ``B-``/``I-`` of every label the source does not
    cover, with two boundary rules that hold whatever the source covers: a mention ends where the
    source says, so the word right after one takes no ``I-`` tag, and a punctuation mark never starts
    a concept, so it takes no ``B-`` tag. Without them a source that covers nothing (the presets)
    scored only its mention words, and the model learnt to run spans on over the next word and the
    full stop ("Chest pain.", "Lisinopril 20"). Overlapping mentions are resolved as
    :func:`clinlm.text.entity_tags` does.
    """
    o = label2id[OUTSIDE]
    if source is None or source.full:
        return [frozenset([label2id.get(t, o)]) for t in entity_tags(w, doc.entities)]
    covered = source.covered()
    free = frozenset([o] + [i for tag, i in label2id.items() if tag != OUTSIDE and split_tag(tag)[1] not in covered])
    inside = frozenset(i for tag, i in label2id.items() if tag.startswith("I-"))
    begin = frozenset(i for tag, i in label2id.items() if tag.startswith("B-"))
    mentions = [Entity(e.start, e.end, e.label, e.text) for e in doc.entities if source.targets(e.label)]
    out: list[frozenset[int]] = []
    previous_in_mention = False
    for i, tag in enumerate(entity_tags(w, mentions)):
        prefix, typ = split_tag(tag)
        if typ is None:
            allowed = free
            if previous_in_mention:
                allowed = allowed - inside
            if _PUNCT.fullmatch(w.text[w.starts[i]:w.ends[i]]):
                allowed = allowed - begin
            out.append(allowed or frozenset([o]))
        else:
            out.append(frozenset(label2id[f"{prefix}-{l}"] for l in source.targets(typ)))
        previous_in_mention = typ is not None
    return out


@dataclass
class AllowedTable:
    """Distinct (allowed tag ids, weight) pairs; features hold an index into it per subword.
    Row 0 is "not scored" (padding, later subwords, words that allow every tag)."""

    n_tags: int
    rows: list[tuple[frozenset[int], float]] = field(default_factory=lambda: [(frozenset(), 0.0)])
    _index: dict[tuple[frozenset[int], float], int] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict)

    def index(self, tags: frozenset[int], weight: float) -> int:
        if not tags:
            raise ValueError("a scored word must allow at least one tag")
        if len(tags) == self.n_tags:
            return 0  # allows everything: -log 1 = 0, nothing to learn
        key = (tags, float(weight))
        if key not in self._index:
            self._index[key] = len(self.rows)
            self.rows.append(key)
            self._cache.clear()
        return self._index[key]

    def tensors(self, device) -> tuple[Any, Any]:
        """``(mask [rows, n_tags] bool, weight [rows] float)`` on ``device``."""
        import torch

        key = str(device)
        if key not in self._cache:
            mask = torch.zeros(len(self.rows), self.n_tags, dtype=torch.bool)
            for r, (tags, _) in enumerate(self.rows):
                mask[r, sorted(tags)] = True
            weight = torch.tensor([w for _, w in self.rows], dtype=torch.float32)
            self._cache[key] = (mask.to(device), weight.to(device))
        return self._cache[key]


def marginal_nll(logits, allowed, weight=None, label_smoothing: float = 0.0):
    """Mean over scored tokens of ``-log sum_{allowed} softmax(logits)``, each token times its weight.

    ``logits`` [..., C]; ``allowed`` bool [..., C]; a token with no allowed tag (or weight 0) is not
    scored. With one allowed tag per token and unit weights this is ``F.cross_entropy`` (label
    smoothing too: ``(1 - eps) * nll + eps * mean_c(-log p_c)``, PyTorch's formula)."""
    import torch

    logp = logits.float().log_softmax(-1)
    scored = allowed.any(-1)
    if weight is not None:
        scored = scored & (weight > 0)
    # unscored tokens allow everything inside the logsumexp (log 1 = 0): no -inf, no NaN gradient
    safe = allowed | ~scored.unsqueeze(-1)
    nll = -torch.logsumexp(logp.masked_fill(~safe, float("-inf")), dim=-1)
    if label_smoothing:
        nll = (1.0 - label_smoothing) * nll - label_smoothing * logp.mean(-1)
    w = scored.float() if weight is None else torch.where(scored, weight.float(), torch.zeros_like(nll))
    return (nll * w).sum() / scored.sum().clamp(min=1)


# -- sampling -------------------------------------------------------------------------------------------
def sample(groups: list[list[dict]], how: str, seed: int) -> list[dict]:
    """Features of all sources: as they are (``proportional``) or, for ``equal``, every source's
    windows repeated in a seeded order until it has as many as the largest source."""
    if how not in SAMPLING:
        raise ConfigError(f"unknown source sampling {how!r}; use one of {', '.join(SAMPLING)}")
    if how == "proportional" or len(groups) < 2:
        return [f for g in groups for f in g]
    rng = random.Random(seed)
    size = max(len(g) for g in groups)
    out: list[dict] = []
    for g in groups:
        if not g:
            continue
        reps, rest = divmod(size, len(g))
        out += g * reps + rng.sample(g, rest)
    return out

