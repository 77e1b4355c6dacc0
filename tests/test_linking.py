"""Concept linking: normalization, abbreviations, the index on disk, the linker, the writers that
carry its concepts, the pipeline's linker argument and the commands."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import clinlm
from hypothesis import given, settings
from hypothesis import strategies as st

from clinlm.document import Document, Entity
from clinlm.errors import ConfigError, InputError
from clinlm.formats import brat, jsonl, pubtator
from clinlm.linking import LinkIndex, Linker, read_vocabulary
from clinlm.linking.evaluate import evaluate_linking, gold_ids
from clinlm.linking.normalize import abbreviations, bag_key, expand, normalize

TINY = Path(__file__).parent / "data" / "linking" / "tiny_vocab.tsv"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("link") / "tiny-index"
    LinkIndex.build(read_vocabulary(TINY)).save(out)
    return out


@pytest.fixture(scope="module")
def linker(index_dir) -> Linker:
    return Linker.load(index_dir)


def top(found: list[dict]) -> str | None:
    return found[0]["id"] if found else None


# -- normalization and abbreviations --------------------------------------------------------------
def test_normalize_case_punctuation_plurals_and_accents():
    assert normalize("Breast-Cancers") == normalize("breast cancer") == "breast cancer"
    assert normalize("Deficiencies,  Hereditary") == "deficiency hereditary"
    assert normalize("Sjögren's syndrome") == normalize("Sjogren s Syndromes")
    assert normalize("abscess") == "abscess" and normalize("boxes") == "box"
    assert normalize("Haemorrhagic tumours, oedema") == normalize("hemorrhagic tumors edema")
    assert normalize("aerobic") == "aerobic"
    assert bag_key(normalize("Carcinoma, Ductal")) == bag_key(normalize("ductal carcinoma"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_normalize_is_idempotent_and_has_no_edge_spaces(s):
    n = normalize(s)
    assert normalize(n) == n
    assert n == n.strip() and "  " not in n


def test_abbreviations_defined_in_the_text_are_found_and_expanded():
    text = ("Patients with chronic kidney disease (CKD) and heart failure (HF) were seen. "
            "The CKD progressed (p<0.05) in 12 (40%) cases.")
    ab = abbreviations(text)
    assert ab == {"CKD": "chronic kidney disease", "HF": "heart failure"}
    assert expand("CKD", ab) == "chronic kidney disease"
    assert expand("CKD stage 3", ab) == "chronic kidney disease stage 3"
    assert expand("HFpEF", ab) == "HFpEF"  # whole words only
    assert abbreviations("Myotonic dystrophy (DM) is rare.") == {}  # letters out of order: no long form


# -- index ------------------------------------------------------------------------------------------
def test_index_on_disk_is_json_and_npy_without_pickle_and_loads_the_same(index_dir):
    files = sorted(p.name for p in index_dir.iterdir())
    assert all(f.endswith((".json", ".npy")) for f in files) and "index.json" in files
    for f in index_dir.glob("*.npy"):
        np.load(f, allow_pickle=False)  # raises on an object array
    mm, mem = LinkIndex.load(index_dir), LinkIndex.load(index_dir, mmap=False)
    for a in (mm.inverted.data, mm.inverted.indices, mm.inverted.indptr, mm.name_vectors.data):  # mapped, not copied into memory
        while not isinstance(a, np.memmap) and a.base is not None:
            a = a.base
        assert isinstance(a, np.memmap)
    keys = ["chronic kidney diseases", "myocardial infarct", "pyrexia"]
    assert mm.nearest_names([normalize(k) for k in keys], 3) == mem.nearest_names([normalize(k) for k in keys], 3)


def test_pruned_search_gives_the_exact_cosines_of_a_full_product(index_dir):
    idx = LinkIndex.load(index_dir)
    keys = [normalize(k) for k in ("chronic kidney diseases", "fever", "chest pain", "acetylsalicylic", "co")]
    full = (idx.vectors(keys) @ idx.inverted).toarray()
    for max_df in (2, None):  # 2: most n-grams count as common, so pruning is exercised
        for i, found in enumerate(idx.nearest_names(keys, 4, max_df=max_df, shortlist=5)):
            assert all(np.isclose(full[i][r], s, atol=1e-6) for r, s in found)  # exact cosines
            assert np.isclose(found[0][1], full[i].max(), atol=1e-6)  # and the best name found


def test_index_save_refuses_a_folder_that_is_not_an_index_and_replaces_an_index(tmp_path, index_dir):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "note.txt").write_text("x")
    idx = LinkIndex.load(index_dir)
    with pytest.raises(InputError, match="not an index folder"):
        idx.save(other)
    assert (other / "note.txt").exists()
    idx.save(tmp_path / "idx")
    idx.save(tmp_path / "idx")  # replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "notes"]  # no temporary folder left
    with pytest.raises(InputError, match="not a clinlm link index"):
        LinkIndex.load(other)


def test_annotated_names_win_ties_and_add_names():
    vocab = read_vocabulary(TINY)
    plain = Linker(LinkIndex.build(vocab))
    assert top(plain.candidates(["cold"])[0]) == "EX:0027"
    trained = Linker(LinkIndex.build(vocab, annotations=[("cold", "EX:0026"), ("cold", "EX:0026"), ("cold", "EX:0027"),
                                                          ("chills", "EX:0026"), ("x", "NOT:IN-VOCAB")]))
    assert top(trained.candidates(["cold"])[0]) == "EX:0026"  # the id most often annotated
    assert top(trained.candidates(["Chills"])[0]) == "EX:0026"


# -- linker -----------------------------------------------------------------------------------------
def test_exact_plural_synonym_and_fuzzy_matches(linker):
    found = linker.candidates(["Hypertension", "heart attacks", "high blood-pressure", "myocardial infarct"])
    assert [top(f) for f in found] == ["EX:0001", "EX:0010", "EX:0001", "EX:0010"]
    assert found[0][0] == {"vocab": "tiny_vocab", "id": "EX:0001", "name": "Hypertension", "score": 1.0}
    assert found[3][0]["score"] < 1.0
    assert all(f[i]["score"] >= f[i + 1]["score"] for f in found for i in range(len(f) - 1))


def test_threshold_means_no_link_and_k_bounds_the_list(linker):
    assert linker.candidates(["zzqx unrelated words"]) == [[]]
    assert len(linker.candidates(["pain"], k=3, threshold=0.0)[0]) == 3


def test_abbreviation_defined_in_the_document_links_the_short_form(linker):
    text = "Known adult-onset diabetes (AOD). AOD is controlled."
    doc = Document("d", text, [Entity(34, 37, "T038", "AOD")])
    linker.link_documents([doc])
    assert top(doc.entities[0].attributes["concepts"]) == "EX:0002"
    alone = Document("e", "AOD is controlled.", [Entity(0, 3, "T038", "AOD")])
    linker.link_documents([alone])
    assert alone.entities[0].attributes["concepts"] == []


def test_type_filter_uses_the_label_the_type_map_and_skips_unknown_labels(index_dir):
    linker = Linker.load(index_dir)
    assert top(linker.candidates(["cold"], ["T038"])[0]) == "EX:0027"  # Common cold is T038
    assert top(linker.candidates(["cold"], ["T033"], threshold=0.0)[0]) == "EX:0026"  # findings only
    assert top(linker.candidates(["cold"], ["Disease"])[0]) == "EX:0027"  # a label the vocabulary lacks: no filter
    mapped = Linker.load(index_dir, type_map={"Finding": {"T033"}})
    assert top(mapped.candidates(["cold"], ["Finding"], threshold=0.0)[0]) == "EX:0026"
    assert linker.candidates(["aspirin"], ["T058"]) == [[]]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="abcdefghiklmnoprstuy ()-,.CKDHTN", min_size=1, max_size=60), st.data())
def test_linking_never_moves_an_entity_and_ranks_concepts(linker, text, data):
    spans = data.draw(st.lists(st.tuples(st.integers(0, len(text) - 1), st.integers(1, 15)), max_size=5))
    ents = [Entity(s, min(len(text), s + n), "T038", text[s: min(len(text), s + n)]) for s, n in spans]
    doc = Document("p", text, ents)
    before = [(e.start, e.end, e.label, e.text) for e in doc.entities]
    linker.link_documents([doc])
    assert [(e.start, e.end, e.label, e.text) for e in doc.entities] == before
    for e in doc.entities:
        scores = [c["score"] for c in e.attributes["concepts"]]
        assert scores == sorted(scores, reverse=True) and all(linker.threshold <= s <= 1.0 for s in scores)
        assert len(scores) <= linker.k


def test_bad_linker_settings(index_dir):
    with pytest.raises(ConfigError):
        Linker.load(index_dir, k=0)
    with pytest.raises(ConfigError):
        Linker.load(index_dir, threshold=1.5)


# -- writers ----------------------------------------------------------------------------------------
def linked_doc(linker) -> Document:
    text = "Pt has hypertension and a cough."
    doc = Document("n1", text, [Entity(7, 19, "T038", "hypertension"), Entity(26, 31, "T038", "cough")])
    return linker(doc)


def test_jsonl_brat_and_pubtator_carry_the_linked_concept(linker, tmp_path):
    doc = linked_doc(linker)
    assert [top(e.attributes["concepts"]) for e in doc.entities] == ["EX:0001", "EX:0006"]
    back = jsonl.loads(jsonl.dumps([doc]))[0]
    assert back.entities[0].attributes["concepts"] == doc.entities[0].attributes["concepts"]
    ann = brat.dumps_ann(doc)
    assert "N1\tReference T1 tiny_vocab:EX:0001\tHypertension\n" in ann
    assert "N2\tReference T2 tiny_vocab:EX:0006\tCough\n" in ann
    again = brat.loads(doc.text, ann, "n1")
    assert [n["target"] for n in again.metadata["brat_normalizations"]] == ["tiny_vocab:EX:0001", "tiny_vocab:EX:0006"]
    assert brat.dumps_ann(again).count("\nN") == 2  # read back and written again: not doubled
    lines = pubtator.dumps([doc]).splitlines()
    assert lines[1] == "n1\t7\t19\thypertension\tT038\tEX:0001"


# -- pipeline ---------------------------------------------------------------------------------------
def test_pipeline_links_after_ner_through_the_linker_argument(tiny_tagger, index_dir):
    import clinlm

    pipe = clinlm.load(tiny_tagger, context=False, linker=index_dir)
    doc = pipe("fever and hypertension")
    concepts = {e.text: e.attributes["concepts"] for e in doc.entities}
    assert top(concepts["fever"]) == "EX:0007"  # T033 allowed: Fever is T038|T033
    assert concepts["hypertension"] == []  # the tagger says T033; Hypertension is T038 only

    class Stamp:
        def link_documents(self, docs):
            for d in docs:
                for e in d.entities:
                    e.attributes["concepts"] = [{"vocab": "mine", "id": "1", "name": "x", "score": 1.0}]
            return docs

    pipe2 = clinlm.load(tiny_tagger, context=False, linker=Stamp())
    assert pipe2("fever").entities[0].attributes["concepts"][0]["vocab"] == "mine"
    with pytest.raises(ConfigError, match="link_documents"):
        clinlm.load(tiny_tagger, context=False, linker=42)
    with pytest.raises(InputError, match="not a clinlm link index"):
        clinlm.load(tiny_tagger, context=False, linker=Path(tiny_tagger))


# -- commands ---------------------------------------------------------------------------------------
GOLD = """\
1|t|Adult-onset diabetes (AOD) and high blood pressure.
1\t0\t20\tAdult-onset diabetes\tDisease\tEX:0002
1\t22\t25\tAOD\tDisease\tEX:0002
1\t31\t50\thigh blood pressure\tDisease\tEX:0001

2|t|Fevers, coughs and a cold or flu; gout.
2\t0\t6\tFevers\tDisease\tEX:0007
2\t8\t14\tcoughs\tDisease\tEX:0006
2\t21\t32\tcold or flu\tDisease\tEX:0027|EX:0025
2\t34\t38\tgout\tDisease\tEX:9999
2\t0\t6\tFevers\tChemical\t-1
"""


def test_link_build_annotate_and_evaluate_commands(tmp_path, tiny_tagger):
    idx = tmp_path / "idx"
    r = clinlm("link", "build", "--vocab", TINY, "--output", idx)
    assert r.returncode == 0, r.stderr
    assert b"27" in r.stdout and (idx / "index.json").is_file()
    note = tmp_path / "note.txt"
    note.write_text("fever and cough", encoding="utf-8")
    r = clinlm("annotate", note, "--model", tiny_tagger, "--no-context", "--link", idx, "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    ents = json.loads(r.stdout)["entities"]
    assert [top(e["attributes"]["concepts"]) for e in ents] == ["EX:0007", None, "EX:0006"]
    r = clinlm("annotate", note, "--model", tiny_tagger, "--no-context", "--link", f"{idx}=T103", "--format", "jsonl")
    ents = json.loads(r.stdout)["entities"]
    assert len(ents) == 3 and all("concepts" not in e.get("attributes", {}) for e in ents)  # T033: not linked
    gold = tmp_path / "gold.pubtator"
    gold.write_text(GOLD, encoding="utf-8")
    r = clinlm("evaluate", "link", "--index", idx, "--data", gold, "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert {k: res[k] for k in ("mentions", "composite", "no_id", "missing", "covered")} == \
        {"mentions": 8, "composite": 1, "no_id": 1, "missing": 1, "covered": 5}
    assert res["acc@1"] == 1.0 and res["acc@5"] == 1.0 and res["acc@1_all"] == 5 / 6
    r = clinlm("evaluate", "link", "--index", idx, "--data", gold, "--label", "Chemical", "--json")
    assert json.loads(r.stdout)["no_id"] == 1
    # end to end: the tagger makes every word a T033 entity; bc5cdr's map lets T033 stand for Disease
    r = clinlm("evaluate", "link", "--index", idx, "--data", f"{gold}:bc5cdr", "--ner", "--model", tiny_tagger,
               "--label", "Disease", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["labels"] == ["T033", "T037", "T038"] and res["left_out_gold"] == 1
    assert (res["span"]["tp"], res["span"]["gold"]) == (4, 6)  # AOD, Fevers, coughs, gout: one-word mentions
    # Fevers and coughs; gout's id is not in the vocabulary, and AOD's concept is T038 only (the tagger says T033)
    assert (res["span_id"]["tp"], res["span_id"]["gold"]) == (2, 6)


def test_command_errors_are_one_line_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("X1\tFlu\nX2\n", encoding="utf-8")
    r = clinlm("link", "build", "--vocab", bad, "--output", tmp_path / "idx")
    assert r.returncode == 2
    assert r.stderr.decode().strip() == f"error: {bad}:2: expected 2 to 4 columns (id, name, synonyms joined by '|', types joined by '|'), got 1"
    assert not (tmp_path / "idx").exists()
    r = clinlm("annotate", tmp_path / "bad.tsv", "--link", tmp_path / "nowhere")
    assert r.returncode == 2 and b"not a clinlm link index" in r.stderr


def test_gold_ids():
    assert gold_ids("MESH:D003920") == ["D003920"]
    assert gold_ids("D001943|D010051") == ["D001943", "D010051"]
    assert gold_ids("D015862+D058499") == ["D015862", "D058499"]
    assert gold_ids("-1") == []


@pytest.mark.integration
def test_ncbi_disease_dev_against_medic(shared_data):
    from clinlm.formats import read_gold

    vocab = read_vocabulary(shared_data / "vocab" / "medic_06Jul2012.txt")
    res = evaluate_linking(Linker(LinkIndex.build(vocab)), read_gold(shared_data / "ncbi_disease" / "NCBIdevelopset_corpus.txt"))
    assert res["covered"] == 757 and res["composite"] == 30 and res["missing"] == 0
    assert res["acc@1"] > 0.75 and res["acc@5"] > 0.88


def test_omop_concept_map_takes_the_linked_concept(linker):
    from clinlm.omop.mapping import ConceptMap

    doc = linked_doc(linker)  # hypertension -> tiny_vocab EX:0001, cough -> EX:0006
    cmap = ConceptMap(concepts={"tiny_vocab:EX:0001": 316866, "T038": 1}, source_concepts={"EX:0006": 254761})
    assert [cmap.concept(e) for e in doc.entities] == [316866, 1]  # cough: its label's id
    assert [cmap.source_concept(e) for e in doc.entities] == [0, 254761]
    assert cmap.concept(Entity(0, 2, "T033", "Pt")) == 0


def test_omop_run_links_and_maps_source_concepts(tmp_path, tiny_tagger, index_dir):
    pytest.importorskip("sqlalchemy")
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path}/cdm.sqlite"
    (tmp_path / "7.txt").write_text("fever and cough\n", encoding="utf-8")
    (tmp_path / "cmap.json").write_text(json.dumps({"source_concepts": {"tiny_vocab:EX:0007": 437663, "EX:0006": 254761}}))
    assert clinlm("omop", "init", "--db", url).returncode == 0
    assert clinlm("omop", "load-notes", "--db", url, tmp_path / "7.txt").returncode == 0
    r = clinlm("omop", "run", "--db", url, "--model", tiny_tagger, "--no-context", "--link", index_dir,
               "--concepts", tmp_path / "cmap.json", "--json")
    assert r.returncode == 0, r.stderr
    with sa.create_engine(url).connect() as conn:
        rows = conn.execute(sa.text("SELECT lexical_variant, note_nlp_source_concept_id FROM note_nlp")).all()
    assert sorted(rows) == [("and", 0), ("cough", 254761), ("fever", 437663)]


def test_link_build_makes_missing_parent_folders(tmp_path):
    """The README's `--output idx/medic-ncbi` on a fresh clone, where no idx/ exists yet."""
    out = tmp_path / "idx" / "nested" / "tiny"
    r = clinlm("link", "build", "--vocab", TINY, "--output", out)
    assert r.returncode == 0, r.stderr
    assert LinkIndex.load(out).keys and sorted(p.name for p in out.parent.iterdir()) == ["tiny"]  # no temp left
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    r = clinlm("link", "build", "--vocab", TINY, "--output", blocker / "idx")
    assert r.returncode == 2 and len(r.stderr.decode().strip().splitlines()) == 1 and str(blocker) in r.stderr.decode()


_WORDS = ["chest", "pain", "fever", "cough", "kidney", "disease", "chronic", "breast", "cancer", "cold",
          "diabetes", "type", "2", "pneumonia", "heart", "attack", "blood", "pressure", "high", "xq"]


@pytest.fixture(scope="module")
def crowded_linker() -> Linker:
    """A vocabulary of many near-identical names: the scan has long lists to stop in."""
    from clinlm.linking.vocab import Concept, Vocabulary

    rng = np.random.default_rng(0)
    concepts = []
    for i in range(150):  # each concept's names are its base words and one more: the nearest names crowd
        base = " ".join(rng.choice(_WORDS, size=int(rng.integers(1, 3))))
        concepts.append(Concept(f"EX:{i}", base, tuple(f"{base} {w}" for w in _WORDS[:12])))
    return Linker(LinkIndex.build(Vocabulary("crowded", concepts)))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4), st.lists(st.sampled_from(_WORDS), max_size=3))
def test_stopping_the_candidate_scan_early_changes_nothing(crowded_linker, words, inside):
    """The scan over the nearest names stops once no further name can enter the top n: the same
    top n, scores included, as offering every name; also when a mention is looked up twice (with
    and without what is in parentheses)."""
    import clinlm.linking.linker as module

    mention = " ".join(words) + (f" ({' '.join(inside)})" if inside else "")
    stopped = crowded_linker.ranked([mention], n=3)[0][1]
    module.STOP_SCAN = False
    try:
        full = crowded_linker.ranked([mention], n=3)[0][1]
    finally:
        module.STOP_SCAN = True
    assert stopped == full
