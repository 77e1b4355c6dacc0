"""MedMentions builders: MM-ST21pv-r from the shared CoNLL files, official splits from PubTator."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clinlm.data.medmentions import build_official, build_reconstructed
from clinlm.data.medmentions import holdout_split, read_pmids
from clinlm.errors import InputError
from clinlm.formats import jsonl, read_documents
from clinlm.labels import ST21PV_TYPES

# --- small synthetic inputs (always run) --------------------------------------------------

ANCESTORS = "fine_type\tst21pv_type\nT047\tT038\nT121\tT103\nT038\tT038\n"


def write_conll(path: Path, docs: dict[str, list[list[tuple[str, str]]]]) -> None:
    out = []
    for pmid, sents in docs.items():
        out.append(f"-DOCSTART- ({pmid})\n\n")
        for sent in sents:
            out.extend(f"{tok}\tO\tO\t{tag}\n" for tok, tag in sent)
            out.append("\n")
    path.write_text("".join(out), encoding="utf-8")


@pytest.fixture
def mini(tmp_path) -> Path:
    d = tmp_path / "medmentions"
    d.mkdir()
    dev = {
        str(100 + i): [[("Acute", "B-T047"), ("asthma", "I-T047"), ("and", "O"), ("Qualitative", "B-T080"),
                        ("thing", "I-T080"), ("aspirin", "B-T121")],
                       [("odd", "B-T047"), ("tags", "I-T080"), ("here", "I-T047")]]
        for i in range(20)
    }
    test = {"900": [[("drug", "B-T121"), ("x", "O")]], "901": [[("none", "O")]]}
    write_conll(d / "full-dev.conll", dev)
    write_conll(d / "full-test.conll", test)
    (d / "st21pv_ancestor.tsv").write_text(ANCESTORS, encoding="utf-8")
    return tmp_path


def test_reconstructed_mapping_and_split(mini, tmp_path):
    out = tmp_path / "out"
    summary = build_reconstructed(mini, out)  # the parent of medmentions/ works too
    train = jsonl.read(out / "train.jsonl")
    dev = jsonl.read(out / "dev.jsonl")
    test = jsonl.read(out / "test.jsonl")
    assert (len(train), len(dev), len(test)) == (18, 2, 2)
    assert {d.id for d in train}.isdisjoint({d.id for d in dev})
    doc = train[0]
    assert doc.text == "Acute asthma and Qualitative thing aspirin\nodd tags here"
    # T047 -> T038 keeps its I- token; T080 (no ancestor) is dropped with its I- token;
    # an I- that does not continue its own type starts no mention
    assert [(e.text, e.label) for e in doc.entities] == [("Acute asthma", "T038"), ("aspirin", "T103"), ("odd", "T038")]
    assert summary["splits"]["train"] == {"docs": 18, "mentions": 54}
    assert summary["official_dev"] == {"docs": 20, "mentions": 60}
    assert summary["i_tags_in_no_mention"] == {"official_dev": 40, "official_test": 0}
    assert json.loads((out / "README.json").read_text()) == summary
    assert summary["protocol"] == "MM-ST21pv-r" and summary["seed"] == 13
    assert set(summary["sources"]) == {"full-dev.conll", "full-test.conll", "st21pv_ancestor.tsv"}


def test_holdout_split_is_seeded_and_sorted():
    pmids = [str(i) for i in range(1000, 1878)]
    kept, held = holdout_split(reversed(pmids), seed=13)
    assert len(held) == round(0.1 * 878) == 88 and len(kept) == 790
    assert (kept, held) == holdout_split(pmids, seed=13)
    assert held != holdout_split(pmids, seed=14)[1]
    assert sorted(kept + held) == sorted(pmids)


def test_reconstructed_missing_files(tmp_path):
    with pytest.raises(InputError, match=re.escape(str(tmp_path / "full-dev.conll")) + ": missing file: expected"):
        build_reconstructed(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_reconstructed_checks_pmid_lists(mini, tmp_path):
    (mini / "medmentions" / "pmids_test.txt").write_text("900\n902\n", encoding="utf-8")
    with pytest.raises(InputError, match="differ from pmids_test.txt: 1 not listed there, 1 listed but missing"):
        build_reconstructed(mini / "medmentions", tmp_path / "out")


# --- official PubTator release ---------------------------------------------------------------

PUBTATOR = (
    "11|t|Aspirin for fever\n11|a|Fever fell.\n"
    "11\t0\t7\tAspirin\tT103\tUMLS:C0004057\n"
    "11\t12\t17\tfever\tT999,T033\tUMLS:C0015967\n"
    "11\t18\t23\tFever\tT999\tUMLS:C0000001\n"
    "\n"
    "22|t|Knee pain\n22|a|\n22\t0\t4\tKnee\tT017\tUMLS:C0022742\n"
    "\n"
    "33|t|Cough\n33|a|Dry.\n33\t0\t5\tCough\tT033\tUMLS:C0010200\n"
)


@pytest.mark.parametrize("names", [("pmids_train.txt", "pmids_dev.txt", "pmids_test.txt"),
                                   ("corpus_pubtator_pmids_trng.txt", "corpus_pubtator_pmids_dev.txt",
                                    "corpus_pubtator_pmids_test.txt")])
def test_official_build(tmp_path, names):
    import gzip

    corpus = tmp_path / "corpus_pubtator.txt.gz"
    corpus.write_bytes(gzip.compress(PUBTATOR.encode()))
    for name, pmids in zip(names, (["11"], ["22"], ["33"])):
        (tmp_path / name).write_text("\n".join(pmids) + "\n", encoding="utf-8")
    summary = build_official(corpus, tmp_path, tmp_path / "out")
    assert summary["splits"] == {"train": {"docs": 1, "mentions": 2}, "dev": {"docs": 1, "mentions": 1},
                                 "test": {"docs": 1, "mentions": 1}}
    assert summary["mentions_without_st21pv_type"] == 1
    assert summary["warnings"] == {"docs_in_no_split": 0, "split_pmids_missing_from_corpus": {"train": 0, "dev": 0, "test": 0}}
    (doc,) = jsonl.read(tmp_path / "out" / "train.jsonl")
    assert doc.text == "Aspirin for fever Fever fell."
    assert [(e.text, e.label, e.attributes["concept"]) for e in doc.entities] == [
        ("Aspirin", "T103", "UMLS:C0004057"), ("fever", "T033", "UMLS:C0015967")]
    assert doc.entities[1].attributes["types"] == ["T999", "T033"]
    assert jsonl.read(tmp_path / "out" / "dev.jsonl")[0].text == "Knee pain "


def test_official_split_problems(tmp_path):
    corpus = tmp_path / "c.pubtator"
    corpus.write_text(PUBTATOR, encoding="utf-8")
    with pytest.raises(InputError, match="missing split files: expected pmids_train.txt, pmids_dev.txt, pmids_test.txt or corpus_pubtator_pmids_trng.txt"):
        build_official(corpus, tmp_path, tmp_path / "out")
    for name, pmids in (("pmids_train.txt", "11\n44\n"), ("pmids_dev.txt", "22\n"), ("pmids_test.txt", "")):
        (tmp_path / name).write_text(pmids, encoding="utf-8")
    with pytest.warns(UserWarning, match="1 corpus documents are in no split"):
        summary = build_official(corpus, tmp_path, tmp_path / "out")
    assert summary["warnings"] == {"docs_in_no_split": 1, "split_pmids_missing_from_corpus": {"train": 1, "dev": 0, "test": 0}}
    with pytest.raises(InputError, match="1 corpus documents are in no split; split PMIDs missing from the corpus: train 1"):
        build_official(corpus, tmp_path, tmp_path / "out2", strict=True)
    (tmp_path / "pmids_test.txt").write_text("22\n", encoding="utf-8")
    with pytest.raises(InputError, match="PMID 22 is in both the dev and the test split"):
        build_official(corpus, tmp_path, tmp_path / "out3")
    with pytest.raises(InputError, match=re.escape(str(tmp_path / "nope.txt.gz")) + ": missing file: expected the MedMentions"):
        build_official(tmp_path / "nope.txt.gz", tmp_path, tmp_path / "out4")


# --- the shared data (skipped where it is absent) --------------------------------------------


@pytest.mark.integration
def test_official_build_on_shared_sample(shared_data, tmp_path):
    sample = shared_data / "medmentions" / "sample_st21pv_3docs.pubtator"
    pmids = [d.id for d in read_documents(sample)]
    splits = tmp_path / "splits"
    splits.mkdir()
    for name, chunk in zip(("pmids_train.txt", "pmids_dev.txt", "pmids_test.txt"), ([pmids[0]], [pmids[1]], [pmids[2]])):
        (splits / name).write_text("\n".join(chunk) + "\n", encoding="utf-8")
    summary = build_official(sample, splits, tmp_path / "out")
    assert sum(s["mentions"] for s in summary["splits"].values()) == 115
    for split in ("train", "dev", "test"):
        for doc in jsonl.read(tmp_path / "out" / f"{split}.jsonl"):
            assert all(e.label in ST21PV_TYPES and e.attributes["concept"].startswith("UMLS:") for e in doc.entities)


@pytest.fixture(scope="module")
def mm_r(tmp_path_factory):
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    if not shared.is_dir():
        pytest.skip(f"shared data not found at {shared} (only developers' machines and CI have it)")
    out = tmp_path_factory.mktemp("mm-st21pv-r")
    return shared / "medmentions", out, build_reconstructed(shared, out)


@pytest.mark.integration
def test_reconstructed_totals(mm_r):
    _, out, summary = mm_r
    s = summary["splits"]
    assert summary["official_dev"] == {"docs": 878, "mentions": 40242}
    assert summary["official_test"] == {"docs": 879, "mentions": 39536}
    assert s["train"]["mentions"] + s["dev"]["mentions"] == 40242
    assert s["train"]["docs"] + s["dev"]["docs"] == 878 and s["dev"]["docs"] == 88
    assert s["test"] == {"docs": 879, "mentions": 39536}
    assert json.loads((out / "README.json").read_text()) == summary


@pytest.mark.integration
def test_reconstructed_pmids_and_split(mm_r):
    mm, out, _ = mm_r
    train, dev, test = (jsonl.read(out / f"{n}.jsonl") for n in ("train", "dev", "test"))
    ids = {n: {d.id for d in docs} for n, docs in (("train", train), ("dev", dev), ("test", test))}
    assert ids["train"] | ids["dev"] == set(read_pmids(mm / "pmids_dev.txt"))
    assert ids["test"] == set(read_pmids(mm / "pmids_test.txt"))
    assert not (ids["train"] & ids["dev"]) and not (ids["train"] & ids["test"]) and not (ids["dev"] & ids["test"])
    assert sorted(ids["dev"]) == holdout_split(ids["train"] | ids["dev"], seed=13)[1]
    assert sum(len(d.entities) for d in train + dev) == 40242
    assert {e.label for d in train + dev + test for e in d.entities} <= set(ST21PV_TYPES)


@pytest.mark.integration
def test_reconstructed_is_deterministic(mm_r, tmp_path):
    mm, out, _ = mm_r
    again = tmp_path / "again"
    build_reconstructed(mm, again)
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "README.json"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
