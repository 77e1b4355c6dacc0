"""BRAT standoff: ``ID.txt`` (the text) + ``ID.ann`` (the annotations), or a directory of them.

Reading (document id = file stem; ``.txt.gz``/``.ann.gz`` work too; hidden files are skipped):

* A directory is read with its sub-folders (hidden ones skipped): ``DIR/sub/deep.txt`` is the
  document ``sub/deep``, the id ``clinlm annotate DIR/`` gives a note in a nested folder.
* ``T1<TAB>Label 0 5<TAB>text`` -> an entity; its text must equal the ``.txt`` slice
  (a line break in the slice may be written as a space, as brat does). Discontinuous
  spans ``0 5;8 10`` raise ``InputError`` unless ``discontinuous="merge"``, which takes
  the covering span ``0..10``.
* ``A``/``M`` lines -> ``entity.attributes[name] = value`` (``True`` without a value).
* ``R`` lines between two entities -> ``doc.relations`` (:class:`~clinlm.document.Relation`,
  head = the first argument, tail = the second: ``R1<TAB>Strength-Drug Arg1:T2 Arg2:T1``
  as n2c2 2018 writes them, across sentences too); role names other than ``Arg1``/``Arg2``
  are kept in ``relation.attributes["roles"]``. Other ``R`` lines (an argument that is no
  entity) -> ``metadata["brat_relations"]``: ``{"id", "type", "args": {role: ref}}``,
  ``N`` lines -> ``metadata["brat_normalizations"]``: ``{"id", "type", "ref", "target", "text"}``,
  ``#`` lines -> ``metadata["brat_notes"]``: ``{"id", "type", "ref", "text"}``, where a ref
  to an entity is its ``[start, end, label]`` (ids are renumbered on writing). ``E``
  (events) and ``*`` (equivalences) lines are accepted and ignored.
* The ``.txt`` is read as strict UTF-8 with newlines untouched, so CRLF offsets are exact.

Gold data (``read(..., require_ann=True)``): every ``.txt`` needs its ``.ann`` (brat writes an
empty one for a note without annotations); a lone ``.txt`` is then an error, not a document
without entities.

Writing: a directory with one ``ID.txt`` + ``ID.ann`` per document. An id with ``/`` (``sub/deep``)
is mirrored as sub-folders (``sub/deep.txt``), so reading the directory gives the same id back;
an id part that is empty, ``.``/``..``, hidden (``.x``) or holds a backslash, a NUL or a line break is
refused, as are ids whose files collide on the file system (``A``/``a`` where case does not
count; ``x`` and ``x.txt/y``). The ``.ann`` holds ``T`` lines, ``A`` lines
for attributes (``True`` -> ``A1<TAB>Name T1``, a string/number -> ``A1<TAB>Name T1 value``;
``False``/``None`` and lists/dicts are left out: brat cannot hold them), then the
relations (``doc.relations``, then those kept in metadata), normalizations (first an entity's linked
concept, the best of ``attributes["concepts"]``, as ``N1<TAB>Reference T1 VOCAB:ID<TAB>name``; then those
kept in metadata) and notes.
Entities, relations and their string and ``True`` attributes round-trip exactly (numbers
come back as strings; relation scores are not kept).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterable

from clinlm.document import Document, Entity, Relation
from clinlm.errors import ConfigError, InputError
from clinlm.formats.files import PathLike, read_text_file, replaced_mode, split_lines, staged_folder, umask

# Our own parser, not bioc.brat: that one reads the .txt with universal newlines (CRLF
# offsets shift), rstrips .ann lines and fails on bad lines with bare asserts naming no line.

_SUFFIXES = (".txt.gz", ".ann.gz", ".txt", ".ann")
_WS = re.compile(r"\s")
_OFFSETS = re.compile(r"([0-9]+) ([0-9]+)\Z")


def _short(s: str, n: int = 60) -> str:
    return repr(s if len(s) <= n else s[:n] + "...")


def _flat(s: str) -> str:
    return s.replace("\r", " ").replace("\n", " ")


def _split_name(name: str) -> tuple[str, str] | None:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix.split(".")[1]
    return None


def _pairs(path: Path) -> list[tuple[str, Path, Path | None]]:
    """``(doc_id, txt, ann or None)`` for a directory, a ``.txt`` or an ``.ann``."""
    if path.is_dir():
        found: dict[str, dict[str, Path]] = {}
        for folder, subfolders, names in os.walk(path):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            rel = Path(folder).relative_to(path)
            for name in names:
                split = _split_name(name)
                f = Path(folder) / name
                if name.startswith(".") or split is None or not f.is_file():
                    continue
                found.setdefault((rel / split[0]).as_posix(), {})[split[1]] = f
        out = []
        for stem, kinds in sorted(found.items()):
            if "txt" not in kinds:
                raise InputError(f"no matching {Path(stem).name}.txt for this annotation file", str(kinds["ann"]))
            out.append((stem, kinds["txt"], kinds.get("ann")))
        return out
    split = _split_name(path.name)
    if split is None:
        raise InputError("expected a brat directory, a .txt or an .ann file", str(path))
    stem, kind = split
    gz = ".gz" if path.name.endswith(".gz") else ""
    if not path.exists():
        raise InputError("file not found", str(path))
    if kind == "ann":
        txt = path.with_name(f"{stem}.txt{gz}")
        if not txt.exists():
            txt = path.with_name(f"{stem}.txt" if gz else f"{stem}.txt.gz")
        if not txt.exists():
            raise InputError(f"no matching {stem}.txt for this annotation file", str(path))
        return [(stem, txt, path)]
    ann = path.with_name(f"{stem}.ann{gz}")
    if not ann.exists():
        ann = path.with_name(f"{stem}.ann" if gz else f"{stem}.ann.gz")
    return [(stem, path, ann if ann.exists() else None)]


def parse_ann(
    ann: str,
    text: str,
    doc_id: str,
    path: str = "<string>",
    *,
    discontinuous: str = "error",
) -> tuple[list[Entity], dict[str, Any], list[Relation]]:
    """Entities, metadata and entity-entity relations of one ``.ann`` string for the document ``text``."""
    if discontinuous not in ("error", "merge"):
        raise ConfigError(f"discontinuous must be 'error' or 'merge', not {discontinuous!r}")
    entities: dict[str, Entity] = {}
    defined: set[str] = set()
    attrs: list[tuple[int, str, str, Any]] = []
    rels: list[tuple[int, dict[str, Any]]] = []
    norms: list[tuple[int, dict[str, Any]]] = []
    notes: list[tuple[int, dict[str, Any]]] = []

    for lineno, line in enumerate(split_lines(ann), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        kind = line[0]
        ann_id = fields[0]
        if kind != "#" and ann_id in defined:
            raise InputError(f"annotation id {ann_id!r} is defined twice", path, lineno)
        if kind == "T":
            if len(fields) < 3 or " " not in fields[1]:
                raise InputError("expected 'T1<TAB>Label start end<TAB>text'", path, lineno)
            label, spec = fields[1].split(" ", 1)
            mention = "\t".join(fields[2:])
            frags = []
            for frag in spec.split(";"):
                m = _OFFSETS.match(frag.strip())
                if not m:
                    raise InputError(f"bad span {frag!r}: expected 'start end' (two integers)", path, lineno)
                frags.append((int(m.group(1)), int(m.group(2))))
            for s, e in frags:
                if not 0 <= s < e <= len(text):
                    raise InputError(
                        f"span {s}-{e} does not fit the text of {doc_id} (length {len(text)})", path, lineno
                    )
            if len(frags) > 1 and discontinuous == "error":
                raise InputError(
                    f"discontinuous spans ({spec!r}) are not supported; "
                    "pass discontinuous='merge' to take the covering span",
                    path,
                    lineno,
                )
            expected = " ".join(text[s:e] for s, e in frags)
            if mention != expected and mention != _flat(expected):
                raise InputError(
                    f"entity text {_short(mention)} does not match the .txt at {spec}, which reads {_short(expected)}",
                    path,
                    lineno,
                )
            start, end = min(s for s, _ in frags), max(e for _, e in frags)
            entities[ann_id] = Entity(start, end, label, text[start:end])
        elif kind in "AM":
            parts = fields[1].split() if len(fields) == 2 else []
            if len(parts) < 2:
                raise InputError("expected 'A1<TAB>Name T1' or 'A1<TAB>Name T1 value'", path, lineno)
            attrs.append((lineno, parts[1], parts[0], " ".join(parts[2:]) or True))
        elif kind == "R":
            parts = fields[1].split() if len(fields) >= 2 else []
            if len(parts) < 2 or not all(":" in a for a in parts[1:]):
                raise InputError("expected 'R1<TAB>Type Arg1:T1 Arg2:T2'", path, lineno)
            args = dict(a.split(":", 1) for a in parts[1:])
            rels.append((lineno, {"id": ann_id, "type": parts[0], "args": args}))
        elif kind == "N":
            parts = fields[1].split() if len(fields) >= 2 else []
            if len(parts) < 3:
                raise InputError("expected 'N1<TAB>Type T1 Resource:id<TAB>text'", path, lineno)
            norms.append(
                (lineno, {"id": ann_id, "type": parts[0], "ref": parts[1], "target": parts[2],
                          "text": "\t".join(fields[2:])})
            )
        elif kind == "#":
            parts = fields[1].split() if len(fields) >= 2 else []
            if len(parts) < 2:
                raise InputError("expected '#1<TAB>Type T1<TAB>note'", path, lineno)
            notes.append((lineno, {"id": ann_id, "type": parts[0], "ref": parts[1], "text": "\t".join(fields[2:])}))
        elif kind in "E*":
            pass  # events and equivalences: accepted, not kept
        else:
            raise InputError(
                f"unknown annotation line starting with {kind!r} (expected T, A, M, R, E, N, * or #)", path, lineno
            )
        defined.add(ann_id)

    def ref(r: str, lineno: int) -> Any:
        if r in entities:
            e = entities[r]
            return [e.start, e.end, e.label]
        if r not in defined:
            raise InputError(f"reference to {r!r}, which no line of this file defines", path, lineno)
        return r

    for lineno, target, name, value in attrs:
        if target in entities:
            entities[target].attributes[name] = value
        else:
            ref(target, lineno)  # an event's or relation's attribute: checked, not kept
    meta: dict[str, Any] = {}
    relations: list[Relation] = []
    other_rels = []
    for lineno, r in rels:
        refs = {role: ref(a, lineno) for role, a in r["args"].items()}
        (role1, a1), *rest = r["args"].items()
        if len(rest) == 1 and a1 in entities and rest[0][1] in entities:
            roles = [role1, rest[0][0]]
            attributes = {} if roles == ["Arg1", "Arg2"] else {"roles": roles}
            relations.append(Relation(r["type"], entities[a1], entities[rest[0][1]], None, attributes))
        else:
            other_rels.append({**r, "args": refs})
    if other_rels:
        meta["brat_relations"] = other_rels
    if norms:
        meta["brat_normalizations"] = [{**n, "ref": ref(n["ref"], lineno)} for lineno, n in norms]
    if notes:
        meta["brat_notes"] = [{**n, "ref": ref(n["ref"], lineno)} for lineno, n in notes]
    return list(entities.values()), meta, relations


def loads(text: str, ann: str, doc_id: str = "doc", path: str = "<string>", *, discontinuous: str = "error") -> Document:
    """One document from its text and ``.ann`` content."""
    ents, meta, relations = parse_ann(ann, text, doc_id, path, discontinuous=discontinuous)
    return Document(doc_id, text, ents, meta, relations)


def read(path: PathLike, *, discontinuous: str = "error", require_ann: bool = False) -> list[Document]:
    """Documents of a brat directory, or of one ``.txt``/``.ann`` pair (either name works).

    ``require_ann``: a ``.txt`` without its ``.ann`` is an error (for gold data: read as a
    document without entities, it would score every prediction as wrong)."""
    pairs = _pairs(Path(path))
    lone = [txt for _, txt, ann in pairs if ann is None]
    if require_ann and lone:
        more = f" (and {len(lone) - 1} more .txt without one)" if len(lone) > 1 else ""
        stem = _split_name(lone[0].name)[0]  # type: ignore[index]
        raise InputError(
            f"no {stem}.ann beside this text file{more}: gold data in brat needs an .ann per .txt "
            "(empty for a note without entities); to tag plain notes, use `clinlm annotate`",
            str(lone[0]),
        )
    docs = []
    for doc_id, txt, ann in pairs:
        text = read_text_file(txt)
        ann_text = read_text_file(ann) if ann is not None else ""
        docs.append(loads(text, ann_text, doc_id, str(ann), discontinuous=discontinuous))
    return docs


def _check_token(value: str, what: str, doc_id: str) -> None:
    if not value or _WS.search(value):
        raise InputError(f"document {doc_id}: brat cannot hold {what} {value!r} (empty or with whitespace)")


def dumps_ann(doc: Document) -> str:
    """The ``.ann`` content of one document."""
    lines: list[str] = []
    ids: dict[tuple[int, int, str], str] = {}
    tids: dict[int, str] = {}
    n_attr = 0
    linked: list[tuple[str, dict]] = []
    for i, e in enumerate(doc.entities, 1):
        tid = f"T{i}"
        ids.setdefault(e.key(), tid)
        tids[id(e)] = tid
        _check_token(e.label, "the label", doc.id)
        lines.append(f"{tid}\t{e.label} {e.start} {e.end}\t{_flat(e.text)}")
        concepts = e.attributes.get("concepts")
        if isinstance(concepts, list) and concepts and isinstance(concepts[0], dict):
            linked.append((tid, concepts[0]))
        for name, value in e.attributes.items():
            if value is False or value is None or isinstance(value, (list, tuple, dict, set)):
                continue
            _check_token(str(name), "the attribute name", doc.id)
            n_attr += 1
            if value is True:
                lines.append(f"A{n_attr}\t{name} {tid}")
            else:
                _check_token(str(value), f"the value of attribute {name!r}:", doc.id)
                lines.append(f"A{n_attr}\t{name} {tid} {value}")

    def ref(r: Any) -> str | None:
        if isinstance(r, (list, tuple)) and len(r) == 3:
            return ids.get((r[0], r[1], r[2]))
        return None  # a ref to an event or relation: its line is gone

    meta = doc.metadata
    k = 0
    for rel in doc.relations:
        _check_token(rel.label, "the relation label", doc.id)
        role1, role2 = rel.attributes.get("roles") or ("Arg1", "Arg2")
        k += 1
        lines.append(f"R{k}\t{rel.label} {role1}:{tids[id(rel.head)]} {role2}:{tids[id(rel.tail)]}")
    for r in meta.get("brat_relations") or []:
        args = {role: ref(a) for role, a in (r.get("args") or {}).items()}
        if args and all(args.values()):
            k += 1
            lines.append(f"R{k}\t{r['type']} " + " ".join(f"{role}:{t}" for role, t in args.items()))
    k = 0
    for tid, c in linked:  # the linked concept (the best of attributes["concepts"])
        target = f"{c.get('vocab')}:{c.get('id')}"
        _check_token(target, "the concept", doc.id)
        k += 1
        lines.append(f"N{k}\tReference {tid} {target}\t{_flat(str(c.get('name', '')))}")
    for n in meta.get("brat_normalizations") or []:
        t = ref(n.get("ref"))
        if t:
            k += 1
            lines.append(f"N{k}\t{n['type']} {t} {n['target']}\t{_flat(str(n.get('text', '')))}")
    k = 0
    for n in meta.get("brat_notes") or []:
        t = ref(n.get("ref"))
        if t:
            k += 1
            lines.append(f"#{k}\t{n['type']} {t}\t{_flat(str(n.get('text', '')))}")
    return "".join(line + "\n" for line in lines)


def _check_id(doc_id: str) -> None:
    for part in doc_id.split("/"):  # "sub/deep" -> sub/deep.txt: each part must be a plain name
        if not part or part in (".", "..") or part.startswith(".") or any(c in part for c in "\\\0\n\r"):
            raise InputError(f"document id {doc_id!r} cannot be a brat file name")


def _create(f: Path, data: bytes, mode: int, doc_id: str) -> None:
    """Create ``f`` in the fresh temporary folder. It must not exist yet: then two ids that name
    one file on this file system (``A``/``a`` where case does not count; ``x`` and ``x.txt/y``)
    are an error instead of one document silently overwriting the other."""
    try:
        f.parent.mkdir(parents=True, exist_ok=True)
        with open(f, "xb") as fh:
            fh.write(data)
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise InputError(
            f"document id {doc_id!r}: its file {f.name!r} collides with another document's file or folder "
            "on this file system; brat needs a file pair per id"
        ) from None
    os.chmod(f, mode)


def _encode(s: str, doc_id: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"document {doc_id}: text with a lone surrogate is not valid Unicode") from None


def write(docs: Iterable[Document], path: PathLike) -> None:
    """Write one ``ID.txt`` + ``ID.ann`` per document into the directory ``path`` (an id
    ``sub/deep`` into ``path/sub/``).

    Everything is first written into a temporary folder beside ``path`` (named as
    :func:`~clinlm.formats.files.temp_prefix` says, removed on failure or SIGTERM), so a failure
    while writing leaves ``path`` untouched. Then a new ``path`` is that folder renamed;
    into an existing one each file is moved with an atomic ``os.replace`` (other files
    there are kept; a replaced file keeps its mode).
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError("brat output must be a directory, but a file is there", str(out))
    if out.is_symlink() and not out.exists():
        raise InputError(f"brat output is a symbolic link to a missing folder ({os.readlink(out)})", str(out))
    with staged_folder(out) as tmp:
        seen: set[str] = set()
        file_mode = 0o666 & ~umask()
        for doc in docs:
            _check_id(doc.id)
            if doc.id in seen:
                raise InputError(f"two documents have the id {doc.id!r}; brat needs one file pair per id")
            seen.add(doc.id)
            for name, data in ((f"{doc.id}.txt", _encode(doc.text, doc.id)), (f"{doc.id}.ann", _encode(dumps_ann(doc), doc.id))):
                _create(tmp / name, data, file_mode, doc.id)
        if not out.exists():
            os.chmod(tmp, 0o777 & ~umask())
            os.replace(tmp, out)
            return
        moves = [(f, out / f.relative_to(tmp)) for f in sorted(tmp.rglob("*")) if f.is_file()]
        for _, dest in moves:  # every conflict is found before anything moves
            for folder in dest.relative_to(out).parents:
                if (out / folder).exists() and not (out / folder).is_dir():
                    raise InputError("brat output needs a folder here, but a file is there", str(out / folder))
            replaced_mode(dest, file_mode)
        for f, dest in moves:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(f, replaced_mode(dest, file_mode))
            os.replace(f, dest)
        shutil.rmtree(tmp)
