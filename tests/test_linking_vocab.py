"""Vocabulary readers: every format into one Concept form, malformed lines as file:line errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinlm.errors import InputError
from clinlm.linking.vocab import Concept, canonical_id, guess_vocab_format, read_vocabulary

TINY = Path(__file__).parent / "data" / "linking" / "tiny_vocab.tsv"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_tiny_vocabulary_reads_with_types_and_an_empty_synonym_cell():
    v = read_vocabulary(TINY)
    assert v.name == "tiny_vocab" and len(v) == 27 and v.has_types
    c = {c.id: c for c in v}
    assert c["EX:0003"] == Concept("EX:0003", "Chronic kidney disease",
                                   ("Chronic renal disease", "CKD", "Chronic kidney failure"), ("T038",))
    assert c["EX:0015"].synonyms == () and c["EX:0015"].types == ("T103",)


def test_medic_pipe_format_ids_alt_ids_and_repeated_concepts(tmp_path):
    p = write(tmp_path, "medic.txt",
              "C567755|613097||Tooth Agenesis, Selective, 6|STHAG6\n"
              "MESH:D003920||Diabetes Mellitus|Diabetes\n"
              "D003920||Diabetes Mellitus|DM\n")
    v = read_vocabulary(p, "medic")
    assert v.name == "MEDIC"
    assert v.concepts[0] == Concept("C567755", "Tooth Agenesis, Selective, 6", ("STHAG6",), (), ("OMIM:613097",))
    assert v.concepts[1] == Concept("D003920", "Diabetes Mellitus", ("Diabetes", "DM"))
    assert v.ids() == {"C567755", "OMIM:613097", "D003920"}


@pytest.mark.parametrize("line,message", [
    ("D000001|Calcimycin", "no '||'"),
    ("||Calcimycin", "no concept id"),
    ("D000001||", "has no name"),
])
def test_medic_malformed_line_names_file_and_line(tmp_path, line, message):
    p = write(tmp_path, "medic.txt", "D000002||Temefos\n" + line + "\n")
    with pytest.raises(InputError, match=message) as exc:
        read_vocabulary(p, "medic")
    assert str(exc.value).startswith(f"{p}:2: ")


def test_ctd_diseases_tsv(tmp_path):
    p = write(tmp_path, "CTD_diseases.tsv",
              "# Fields:\n# DiseaseName\tDiseaseID\tAltDiseaseIDs\tDefinition\tParentIDs\tTreeNumbers\t"
              "ParentTreeNumbers\tSynonyms\tSlimMappings\n"
              "Tooth Agenesis\tMESH:D000848\tOMIM:106600\tdef\tMESH:D009057\tC05\tC05\tAnodontia|Hypodontia\tx\n")
    assert guess_vocab_format(p) == "ctd"
    v = read_vocabulary(p)
    assert v.concepts == [Concept("D000848", "Tooth Agenesis", ("Anodontia", "Hypodontia"), (), ("OMIM:106600",))]
    bad = write(tmp_path, "CTD_bad.tsv", "Name\tMESH:D1\n")
    with pytest.raises(InputError, match=rf"^{bad}:1: expected CTD"):
        read_vocabulary(bad)


def _rrf(*fields: str) -> str:
    return "|".join(fields) + "|\n"


def mrconso_row(cui, name, lat="ENG", ts="S", stt="VO", ispref="N", sab="MSH", tty="EN", suppress="N"):
    return _rrf(cui, lat, ts, "L1", stt, "S1", ispref, "A1", "", "", "", sab, tty, "X", name, "0", suppress, "")


def test_mrconso_preferred_name_language_suppression_and_mrsty_types(tmp_path):
    write(tmp_path, "MRSTY.RRF", _rrf("C0011849", "T047", "B2.2", "Disease or Syndrome", "AT1", "")
          + _rrf("C0020538", "T047", "B2.2", "Disease or Syndrome", "AT2", ""))
    p = write(tmp_path, "MRCONSO.RRF",
              mrconso_row("C0011849", "diabetes") + mrconso_row("C0011849", "Diabetes Mellitus", ts="P", stt="PF", ispref="Y")
              + mrconso_row("C0011849", "Diabète", lat="FRE") + mrconso_row("C0011849", "old name", suppress="O")
              + mrconso_row("C0020538", "Hypertensive disease", ts="P", stt="PF", ispref="Y", sab="SNOMEDCT_US"))
    v = read_vocabulary(p)
    assert v.name == "UMLS"
    assert v.concepts == [Concept("C0011849", "Diabetes Mellitus", ("diabetes",), ("T047",)),
                          Concept("C0020538", "Hypertensive disease", (), ("T047",))]
    assert [c.id for c in read_vocabulary(p, sources=["MSH"])] == ["C0011849"]
    bad = write(tmp_path, "MRCONSO2.RRF", mrconso_row("C1", "x") + "C2|ENG|P|\n")
    with pytest.raises(InputError, match=rf"^{bad}:2: expected 18"):
        read_vocabulary(bad, "mrconso")


def test_rxnorm_rrf_keeps_rxnorm_names_and_their_term_types(tmp_path):
    p = write(tmp_path, "RXNCONSO.RRF",
              mrconso_row("161", "Acetaminophen", sab="RXNORM", tty="SY")
              + mrconso_row("161", "acetaminophen", sab="RXNORM", tty="IN")
              + mrconso_row("161", "Tylenol", sab="MMSL", tty="BN")
              + mrconso_row("198440", "acetaminophen 500 MG Oral Tablet", sab="RXNORM", tty="SCD"))
    v = read_vocabulary(p)
    assert v.name == "RXNORM"
    assert v.concepts == [Concept("161", "acetaminophen", ("Acetaminophen",), ("SY", "IN")),
                          Concept("198440", "acetaminophen 500 MG Oral Tablet", (), ("SCD",))]


def test_obo_terms_synonym_scopes_obsolete_and_errors(tmp_path):
    p = write(tmp_path, "mini.obo",
              "format-version: 1.2\nontology: mini\n\n"
              "[Term]\nid: MINI:0001\nname: asthma\nnamespace: disease\nalt_id: MINI:9001\n"
              'synonym: "asthmatic disease" EXACT []\nsynonym: "bronchial \\"asthma\\"" RELATED [X:1]\n'
              'synonym: "airway disease" BROAD []\n\n'
              "[Term]\nid: MINI:0002\nname: old term\nis_obsolete: true\n\n"
              "[Typedef]\nid: part_of\nname: part of\n")
    v = read_vocabulary(p)
    assert v.name == "MINI"
    assert v.concepts == [Concept("MINI:0001", "asthma", ("asthmatic disease", 'bronchial "asthma"'), ("disease",),
                                  ("MINI:9001",))]
    bad = write(tmp_path, "bad.obo", "[Term]\nid: MINI:1\nname: x\nsynonym: no quotes EXACT\n")
    with pytest.raises(InputError, match=rf"^{bad}:4: expected 'synonym"):
        read_vocabulary(bad)
    bad2 = write(tmp_path, "bad2.obo", "[Term]\nid: MINI:1\nthis line has no tag\n")
    with pytest.raises(InputError, match=rf"^{bad2}:3: expected 'tag: value'"):
        read_vocabulary(bad2)


def test_obo_json_nodes_to_curies(tmp_path):
    graph = {"graphs": [{"nodes": [
        {"id": "http://purl.obolibrary.org/obo/MONDO_0004979", "lbl": "asthma", "type": "CLASS",
         "meta": {"synonyms": [{"pred": "hasExactSynonym", "val": "asthmatic"},
                               {"pred": "hasNarrowSynonym", "val": "childhood asthma"}],
                  "basicPropertyValues": [{"pred": "http://www.geneontology.org/formats/oboInOwl#hasAlternativeId",
                                           "val": "MONDO:0000001"}]}},
        {"id": "http://purl.obolibrary.org/obo/MONDO_0000002", "lbl": "gone", "meta": {"deprecated": True}},
        {"id": "http://purl.obolibrary.org/obo/RO_0002", "lbl": "part of", "type": "PROPERTY"}]}]}
    p = write(tmp_path, "mondo.json", json.dumps(graph, indent=1))
    v = read_vocabulary(p)
    assert v.name == "MONDO"
    assert v.concepts == [Concept("MONDO:0004979", "asthma", ("asthmatic",), (), ("MONDO:0000001",))]
    bad = write(tmp_path, "bad.json", '{"graphs": [\n{"nodes": [}\n]}')
    with pytest.raises(InputError, match=rf"^{bad}:2: not valid JSON"):
        read_vocabulary(bad)


def test_csv_with_quotes_and_header_and_bad_row(tmp_path):
    p = write(tmp_path, "terms.csv", 'id,name,synonyms\nX1,"Carcinoma, Ductal",ductal carcinoma|DC\nX2,Flu,\n')
    v = read_vocabulary(p, name="mine")
    assert v.name == "mine"
    assert v.concepts == [Concept("X1", "Carcinoma, Ductal", ("ductal carcinoma", "DC")), Concept("X2", "Flu")]
    bad = write(tmp_path, "bad.tsv", "X1\tFlu\nX2\n")
    with pytest.raises(InputError, match=rf"^{bad}:2: expected 2 to 4 columns"):
        read_vocabulary(bad)


def test_unknown_format_and_unguessable_name(tmp_path):
    p = write(tmp_path, "vocab.bin", "x")
    with pytest.raises(InputError, match="cannot tell the vocabulary format"):
        read_vocabulary(p)
    with pytest.raises(InputError, match="unknown vocabulary format"):
        read_vocabulary(p, "nope")


def test_canonical_ids():
    assert canonical_id("MESH:D000001") == "D000001"
    assert canonical_id("613097") == "OMIM:613097"
    assert canonical_id("OMIM:613097") == "OMIM:613097"
