"""Vocabularies a user holds, read into one in-memory form: :class:`Vocabulary`, a list of
:class:`Concept` (id, preferred name, synonyms, optional semantic types, alternative ids).

Formats (``read_vocabulary(path, format)``; ``format=None`` guesses from the name):

* ``medic``: the CTD MEDIC pipe format BioSyn and NCBI-disease use, ``ID[|ID...]||name[|synonym...]``.
  The first id is the concept's, the others its alternative ids; MeSH ids lose a ``MESH:`` prefix
  and bare OMIM numbers become ``OMIM:NNN``, as NCBI-disease and BC5CDR write them.
* ``ctd``: CTD's own downloads (``CTD_diseases.tsv``, ``CTD_chemicals.tsv``): ``#`` comment lines,
  then name, id, (disease: alternative ids), ..., synonyms in the 8th column; ids as for ``medic``.
* ``mrconso``: UMLS ``MRCONSO.RRF`` (18 ``|``-separated fields): one concept per CUI, English
  names (``languages``), suppressed names left out, the preferred name the one with TS=P, STT=PF,
  ISPREF=Y; ``sources`` keeps only names from those SABs. ``MRSTY.RRF`` beside it (or ``types_path``)
  gives each CUI its semantic type ids (``T047``).
* ``rxnorm``: RxNorm ``RXNCONSO.RRF`` (same layout): SAB=RXNORM, not suppressed; types are the
  term types (``IN``, ``SCD``, ``BN`` ...) of each concept's names; the preferred name by term type.
* ``obo``: OBO 1.4 flat files (MONDO, HPO, DOID): ``[Term]`` stanzas with ``id``, ``name``,
  ``synonym: "..." EXACT|RELATED`` (NARROW and BROAD name other concepts and are left out),
  ``alt_id``, ``namespace`` (as the type); obsolete terms are left out.
* ``obojson``: OBO Graphs JSON (``{"graphs": [{"nodes": [...]}]}``), classes only, IRIs turned into
  CURIEs (``http://purl.obolibrary.org/obo/MONDO_0000001`` -> ``MONDO:0000001``).
* ``tsv`` / ``csv``: ``id, name, synonyms[, types]`` with synonyms and types joined by ``|``; a first
  line whose first cell is a header word (``id``, ``cui``, ``code``, ``descriptor_ui`` ...) is a
  header. The MeSH descriptor table in ``../shared/data/vocab`` is this format.

A malformed line raises :class:`~clinlm.errors.InputError` as ``file:line: what is wrong``.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from clinlm.errors import InputError
from clinlm.formats.files import PathLike, read_text_file, split_lines

VOCAB_FORMATS = ("medic", "ctd", "mrconso", "rxnorm", "obo", "obojson", "tsv", "csv")


@dataclass(slots=True)
class Concept:
    """One concept: its id, preferred name, other names, semantic types and alternative ids."""

    id: str
    name: str
    synonyms: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    alt_ids: tuple[str, ...] = ()

    def names(self) -> list[str]:
        """The preferred name first, then the synonyms, each once."""
        seen = {self.name}
        out = [self.name]
        for s in self.synonyms:
            if s not in seen:
                seen.add(s)
                out.append(s)
        return out


@dataclass
class Vocabulary:
    """Concepts of one vocabulary under one short ``name`` (what ``concepts[*]["vocab"]`` says)."""

    name: str
    concepts: list[Concept] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.concepts)

    def __iter__(self) -> Iterator[Concept]:
        return iter(self.concepts)

    @property
    def has_types(self) -> bool:
        return any(c.types for c in self.concepts)

    def position_of_ids(self) -> dict[str, int]:
        """Concept id -> its position in ``concepts``; an alternative id counts for its concept, a
        concept's own id wins over another's alternative (gold ids of annotated mentions are looked up here)."""
        out: dict[str, int] = {}
        for i, c in enumerate(self.concepts):
            for a in c.alt_ids:
                out.setdefault(a, i)
        for i, c in enumerate(self.concepts):
            out[c.id] = i
        return out

    def n_names(self) -> int:
        return sum(1 + len(c.synonyms) for c in self.concepts)

    def ids(self) -> set[str]:
        """Every id a concept answers to: its own and its alternative ids."""
        out: set[str] = set()
        for c in self.concepts:
            out.add(c.id)
            out.update(c.alt_ids)
        return out


def canonical_id(raw: str) -> str:
    """``MESH:D000001`` -> ``D000001``; a bare OMIM number ``613097`` -> ``OMIM:613097``; others as they are."""
    raw = raw.strip()
    if raw.upper().startswith("MESH:"):
        return raw[5:]
    if raw.isdigit():
        return f"OMIM:{raw}"
    return raw


def _split_names(cell: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in cell.split("|") if s.strip())


# -- CTD ---------------------------------------------------------------------------------------
def _read_medic(path: str, text: str) -> Iterator[Concept]:
    for lineno, line in enumerate(split_lines(text), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if "||" not in line:
            raise InputError("expected 'ID[|ID...]||name[|synonym...]' (no '||' between ids and names)", path, lineno)
        ids_part, names_part = line.split("||", 1)
        ids = [canonical_id(i) for i in ids_part.split("|") if i.strip()]
        names = _split_names(names_part)
        if not ids:
            raise InputError("no concept id before '||'", path, lineno)
        if not names:
            raise InputError(f"concept {ids[0]} has no name after '||'", path, lineno)
        yield Concept(ids[0], names[0], names[1:], (), tuple(ids[1:]))


def _read_ctd(path: str, text: str) -> Iterator[Concept]:
    for lineno, line in enumerate(split_lines(text), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 8:
            raise InputError(f"expected CTD's tab-separated columns (name, id, ..., synonyms in the 8th), got {len(cols)}",
                             path, lineno)
        name, cid = cols[0].strip(), canonical_id(cols[1])
        if not name or not cid:
            raise InputError("empty name or id", path, lineno)
        alt = tuple(canonical_id(a) for a in cols[2].split("|") if a.strip()) if len(cols) == 9 else ()
        yield Concept(cid, name, _split_names(cols[7]), (), alt)


# -- UMLS and RxNorm RRF ----------------------------------------------------------------------
_RRF_FIELDS = 18
# RxNorm: which term type's name is the preferred one, best first
_RXNORM_PREFERRED = ("IN", "PIN", "MIN", "SCD", "SBD", "GPCK", "BPCK", "SCDC", "SCDF", "SCDG", "SBDC", "SBDF",
                     "SBDG", "DF", "DFG", "BN", "SY", "TMSY", "PSN", "ET")


def _rrf_rows(path: str, text: str, n: int) -> Iterator[tuple[int, list[str]]]:
    for lineno, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        cols = line.split("|")
        if cols and cols[-1] == "":
            cols.pop()  # RRF lines end in '|'
        if len(cols) != n:
            raise InputError(f"expected {n} '|'-separated fields (RRF), got {len(cols)}", path, lineno)
        yield lineno, cols


def _read_mrsty(path: PathLike) -> dict[str, tuple[str, ...]]:
    types: dict[str, list[str]] = {}
    for lineno, cols in _rrf_rows(str(path), read_text_file(path), 6):
        cui, tui = cols[0], cols[1]
        if not cui or not re.fullmatch(r"T[0-9]{3}", tui):
            raise InputError(f"expected 'CUI|TUI|STN|STY|ATUI|CVF|', got TUI {tui!r}", str(path), lineno)
        types.setdefault(cui, []).append(tui)
    return {cui: tuple(dict.fromkeys(t)) for cui, t in types.items()}


def _read_rrf(path: str, text: str, *, rxnorm: bool, languages: Iterable[str] | None, sources: Iterable[str] | None,
              types: dict[str, tuple[str, ...]] | None) -> Iterator[Concept]:
    langs = {x.upper() for x in (languages or ["ENG"])}
    sabs = {x.upper() for x in sources} if sources else ({"RXNORM"} if rxnorm else None)
    order: list[str] = []
    names: dict[str, list[tuple[tuple, str]]] = {}
    ttys: dict[str, list[str]] = {}
    for lineno, cols in _rrf_rows(path, text, _RRF_FIELDS):
        cui, lat, ts, stt, ispref, sab, tty, name, suppress = (cols[0], cols[1], cols[2], cols[4], cols[6], cols[11],
                                                               cols[12], cols[14], cols[16])
        if not cui or not name.strip():
            raise InputError("empty concept id (field 1) or name (field 15)", path, lineno)
        if lat.upper() not in langs or (sabs is not None and sab.upper() not in sabs):
            continue
        if suppress in ("O", "E", "Y"):  # obsolete or suppressible names
            continue
        if rxnorm:
            rank = (_RXNORM_PREFERRED.index(tty) if tty in _RXNORM_PREFERRED else len(_RXNORM_PREFERRED),)
            ttys.setdefault(cui, []).append(tty)
        else:
            rank = (ts != "P", stt != "PF", ispref != "Y")
        if cui not in names:
            order.append(cui)
            names[cui] = []
        names[cui].append((rank, name.strip()))
    for cui in order:
        ranked = [n for _, n in sorted(names[cui], key=lambda x: x[0])]
        uniq = list(dict.fromkeys(ranked))
        if rxnorm:
            t = tuple(dict.fromkeys(ttys[cui]))
        else:
            t = (types or {}).get(cui, ())
        yield Concept(cui, uniq[0], tuple(uniq[1:]), t)


# -- OBO -----------------------------------------------------------------------------------------
_SYNONYM = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(EXACT|RELATED|NARROW|BROAD)?(.*)\Z')
_KEEP_SCOPES = ("EXACT", "RELATED")


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _read_obo(path: str, text: str) -> Iterator[Concept]:
    stanza: str | None = None
    cur: dict | None = None

    def done(c: dict | None) -> Iterator[Concept]:
        if c is None or c.get("obsolete"):
            return
        if not c.get("id"):
            raise InputError("[Term] stanza without an 'id:' line", path, c["line"])
        if not c.get("name"):
            return  # a term without a name cannot be linked to by name
        syn = tuple(s for s in dict.fromkeys(c["syn"]) if s != c["name"])
        yield Concept(c["id"], c["name"], syn, tuple(c["ns"]), tuple(c["alt"]))

    for lineno, line in enumerate(split_lines(text), 1):
        s = line.strip()
        if not s or s.startswith("!"):
            continue
        if s.startswith("[") and s.endswith("]"):
            yield from done(cur)
            stanza = s[1:-1]
            cur = {"line": lineno, "syn": [], "alt": [], "ns": []} if stanza == "Term" else None
            continue
        if ":" not in s:
            raise InputError("expected 'tag: value' (an OBO tag-value line)", path, lineno)
        if cur is None:
            continue  # header and [Typedef]/[Instance] stanzas
        tag, value = s.split(":", 1)
        value = re.sub(r"\s!.*\Z", "", value).strip() if tag not in ("name", "synonym", "def") else value.strip()
        if tag == "id":
            cur["id"] = value
        elif tag == "name":
            cur["name"] = value
        elif tag == "alt_id":
            cur["alt"].append(value)
        elif tag == "namespace":
            cur["ns"].append(value)
        elif tag == "is_obsolete":
            cur["obsolete"] = value.lower() == "true"
        elif tag == "synonym":
            m = _SYNONYM.match(value)
            if not m:
                raise InputError('expected \'synonym: "text" EXACT|RELATED|NARROW|BROAD [xrefs]\'', path, lineno)
            if (m.group(2) or "RELATED") in _KEEP_SCOPES and m.group(1).strip():
                cur["syn"].append(_unescape(m.group(1)).strip())
    yield from done(cur)


def curie(iri: str) -> str:
    """``http://purl.obolibrary.org/obo/MONDO_0000001`` -> ``MONDO:0000001``; a CURIE stays."""
    if "://" not in iri:
        return iri
    last = re.split(r"[/#]", iri.rstrip("/"))[-1]
    return last.replace("_", ":", 1) if "_" in last else last


def _read_obojson(path: str, text: str) -> Iterator[Concept]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg}", path, e.lineno) from None
    graphs = data.get("graphs") if isinstance(data, dict) else None
    if not isinstance(graphs, list):
        raise InputError("expected an OBO Graphs JSON object with a 'graphs' list", path)
    for g, graph in enumerate(graphs):
        for i, node in enumerate(graph.get("nodes") or []):
            if not isinstance(node, dict) or not isinstance(node.get("id"), str):
                raise InputError(f"graphs[{g}].nodes[{i}] has no string 'id'", path, _line_of(text, node))
            if node.get("type", "CLASS") != "CLASS" or not node.get("lbl"):
                continue
            meta = node.get("meta") or {}
            if meta.get("deprecated"):
                continue
            syn = []
            for s in meta.get("synonyms") or []:
                if not isinstance(s, dict) or not isinstance(s.get("val"), str):
                    raise InputError(f"graphs[{g}].nodes[{i}]: a synonym without a string 'val'", path,
                                     _line_of(text, node))
                if s.get("pred", "hasExactSynonym") in ("hasExactSynonym", "hasRelatedSynonym") and s["val"].strip():
                    syn.append(s["val"].strip())
            name = str(node["lbl"]).strip()
            alt = [curie(str(v.get("val"))) for v in meta.get("basicPropertyValues") or []
                   if isinstance(v, dict) and str(v.get("pred", "")).endswith("hasAlternativeId") and v.get("val")]
            ns = [str(v.get("val")) for v in meta.get("basicPropertyValues") or []
                  if isinstance(v, dict) and str(v.get("pred", "")).endswith("hasOBONamespace") and v.get("val")]
            yield Concept(curie(node["id"]), name, tuple(s for s in dict.fromkeys(syn) if s != name), tuple(ns),
                          tuple(alt))


def _line_of(text: str, node: object) -> int | None:
    if isinstance(node, dict) and isinstance(node.get("id"), str):
        at = text.find(json.dumps(node["id"]))
        return text.count("\n", 0, at) + 1 if at >= 0 else None
    return None


# -- plain tables ----------------------------------------------------------------------------
_HEADER_WORDS = {"id", "cui", "code", "concept_id", "conceptid", "descriptor_ui", "ui", "identifier", "curie"}


def _read_table(path: str, text: str, delimiter: str) -> Iterator[Concept]:
    lines = split_lines(text)
    rows = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter,
                      quoting=csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE)
    lineno = 0
    for cols in rows:
        lineno = rows.line_num
        if not any(c.strip() for c in cols) or cols[0].startswith("#"):
            continue
        if lineno == 1 and cols[0].strip().lower() in _HEADER_WORDS:
            continue
        if len(cols) < 2 or len(cols) > 4:
            raise InputError(f"expected 2 to 4 columns (id, name, synonyms joined by '|', types joined by '|'), "
                             f"got {len(cols)}", path, lineno)
        cid, name = cols[0].strip(), cols[1].strip()
        if not cid or not name:
            raise InputError("empty id or name", path, lineno)
        syn = _split_names(cols[2]) if len(cols) > 2 else ()
        types = _split_names(cols[3]) if len(cols) > 3 else ()
        yield Concept(cid, name, tuple(s for s in syn if s != name), types)


# -- entry point --------------------------------------------------------------------------------
def guess_vocab_format(path: PathLike) -> str:
    name = Path(path).name.lower()
    for suffix in (".gz",):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.startswith("rxnconso"):
        return "rxnorm"
    if name.endswith(".rrf"):
        return "mrconso"
    if name.endswith(".obo"):
        return "obo"
    if name.endswith(".json"):
        return "obojson"
    if name.startswith("ctd_") and name.endswith(".tsv"):
        return "ctd"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".tsv"):
        return "tsv"
    if "medic" in name:
        return "medic"
    raise InputError(f"cannot tell the vocabulary format from the file name; give one of {', '.join(VOCAB_FORMATS)}",
                     str(path))


_DEFAULT_NAMES = {"medic": "MEDIC", "ctd": "CTD", "mrconso": "UMLS", "rxnorm": "RXNORM"}


def read_vocabulary(path: PathLike, format: str | None = None, *, name: str | None = None,
                    types_path: PathLike | None = None, languages: Iterable[str] | None = None,
                    sources: Iterable[str] | None = None) -> Vocabulary:
    """Read one vocabulary file into a :class:`Vocabulary` (see the module doc for the formats).

    ``name``: what linked concepts say in ``vocab`` (default: MEDIC, CTD, UMLS, RXNORM, the OBO
    ontology's id prefix, or the file's stem). ``types_path``: ``MRSTY.RRF`` for ``mrconso`` (default:
    the one beside the file, when there). ``languages``/``sources``: ``mrconso``/``rxnorm`` filters."""
    fmt = format or guess_vocab_format(path)
    if fmt not in VOCAB_FORMATS:
        raise InputError(f"unknown vocabulary format {fmt!r}; use one of {', '.join(VOCAB_FORMATS)}")
    p = str(path)
    text = read_text_file(path)
    if fmt == "medic":
        it = _read_medic(p, text)
    elif fmt == "ctd":
        it = _read_ctd(p, text)
    elif fmt in ("mrconso", "rxnorm"):
        types = None
        if fmt == "mrconso":
            sty = Path(types_path) if types_path is not None else Path(path).with_name("MRSTY.RRF")
            if types_path is not None or sty.is_file():
                types = _read_mrsty(sty)
        it = _read_rrf(p, text, rxnorm=fmt == "rxnorm", languages=languages, sources=sources, types=types)
    elif fmt == "obo":
        it = _read_obo(p, text)
    elif fmt == "obojson":
        it = _read_obojson(p, text)
    else:
        it = _read_table(p, text, "," if fmt == "csv" else "\t")
    concepts = _merge(it, p)
    if not concepts:
        raise InputError(f"no concepts found (read as {fmt})", p)
    if name is None:
        if fmt in _DEFAULT_NAMES:
            name = _DEFAULT_NAMES[fmt]
        elif fmt in ("obo", "obojson") and ":" in concepts[0].id:
            name = concepts[0].id.split(":", 1)[0]
        else:
            name = Path(path).name.split(".")[0]
    return Vocabulary(name, concepts)


def _merge(concepts: Iterable[Concept], path: str) -> list[Concept]:
    """One concept per id: a repeated id (MEDIC lists some concepts twice) adds its names and ids."""
    by_id: dict[str, int] = {}
    out: list[Concept] = []
    for c in concepts:
        i = by_id.get(c.id)
        if i is None:
            by_id[c.id] = len(out)
            out.append(c)
            continue
        old = out[i]
        names = [n for n in dict.fromkeys((*old.synonyms, c.name, *c.synonyms)) if n != old.name]
        out[i] = Concept(old.id, old.name, tuple(names), tuple(dict.fromkeys((*old.types, *c.types))),
                         tuple(a for a in dict.fromkeys((*old.alt_ids, *c.alt_ids)) if a != old.id))
    return out
