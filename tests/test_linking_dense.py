"""Dense re-ranking of the linker's lexical candidates: the embedding cache in the index folder, its
fingerprint, the re-ordering, the weight tuned on training mentions, and the commands
(`clinlm link embed`, `clinlm train linker`, `clinlm evaluate link` side by side). A tiny random
encoder (conftest's ``tiny_bert``) or a fixture encoder stands in for MiniLM: no shared data, no GPU."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_runner import clinlm

from clinlm.document import Document, Entity
from clinlm.errors import ClinlmError, ModelError
from clinlm.linking import LinkIndex, Linker, read_vocabulary
from clinlm.linking.dense import DENSE_DIR, EMBEDDINGS, META, DenseReranker, Encoder, embed_index
from clinlm.linking.evaluate import tune_weight

TINY = Path(__file__).parent / "data" / "linking" / "tiny_vocab.tsv"


@pytest.fixture()
def index_dir(tmp_path) -> Path:
    out = tmp_path / "tiny-index"
    LinkIndex.build(read_vocabulary(TINY)).save(out)
    return out


@pytest.fixture()
def encoder_dir(tiny_bert, tmp_path) -> Path:
    """A copy of the tiny random encoder that a test may change."""
    return Path(shutil.copytree(tiny_bert, tmp_path / "encoder"))


class FixtureEncoder:
    """Says what the cosines are: a text in ``near`` embeds as the first axis, any other text on an
    axis of its own (cosine 0 with everything else)."""

    def __init__(self, near: set[str], path: str = "fixture"):
        self.near = near
        self.path = path
        self.calls = 0
        self._axes: dict[str, int] = {}

    def encode(self, texts, progress=None) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), 4096), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, 0 if t in self.near else self._axes.setdefault(t, 1 + len(self._axes))] = 1.0
        return out


def fixture_linker(index: LinkIndex, encoder: FixtureEncoder, weight: float) -> Linker:
    emb = encoder.encode(index.keys).astype(np.float16)
    return Linker(index, dense=DenseReranker(index, emb, encoder, weight))


def names_of(index: LinkIndex, concept: int) -> set[str]:
    return {index.keys[r] for r in range(len(index.keys)) if concept in dict(index.concepts_of(r))}


# -- the cache ------------------------------------------------------------------------------------
def test_cache_is_written_once_as_float16_and_reused(index_dir, encoder_dir):
    enc = Encoder(encoder_dir)
    meta, reused = embed_index(index_dir, enc)
    assert not reused
    emb = np.load(index_dir / DENSE_DIR / EMBEDDINGS)
    index = LinkIndex.load(index_dir)
    assert emb.dtype == np.float16 and emb.shape == (len(index.keys), 32)
    assert np.allclose(np.linalg.norm(emb.astype(np.float32), axis=1), 1.0, atol=1e-2)
    assert meta["fingerprint"]["index"].startswith("sha256:") and meta["fingerprint"]["encoder"].startswith("sha256:")
    assert meta["encoder"] == str(encoder_dir.resolve()) and meta["weight"] == 0.5 and meta["tuned_on"] is None
    stamp = (index_dir / DENSE_DIR / EMBEDDINGS).stat().st_mtime_ns

    class Counting(Encoder):
        calls = 0

        def encode(self, texts, progress=None):
            Counting.calls += 1
            return super().encode(texts, progress)

    meta2, reused = embed_index(index_dir, Counting(encoder_dir))
    assert reused and meta2 == meta and Counting.calls == 0
    assert (index_dir / DENSE_DIR / EMBEDDINGS).stat().st_mtime_ns == stamp
    _, reused = embed_index(index_dir, enc, force=True)
    assert not reused
    # a linker over the folder takes the cache; dense=False leaves it
    linker = Linker.load(index_dir)
    assert linker.dense is not None and linker.dense.weight == 0.5
    assert Linker.load(index_dir, dense=False).dense is None
    found = linker.candidates(["high blood pressure"])
    assert found[0][0]["id"] == "EX:0001" and found[0][0]["score"] == 1.0  # exact name: cosine 1, lexical 1


def test_names_another_index_embedded_with_the_encoder_are_copied_not_embedded(index_dir, encoder_dir, tmp_path):
    enc = Encoder(encoder_dir)
    embed_index(index_dir, enc)
    more = tmp_path / "with-names"
    LinkIndex.build(read_vocabulary(TINY), annotations=[("pyrexial cough", "EX:0006")]).save(more)
    seen: list[list[str]] = []

    class Recording(Encoder):
        def encode(self, texts, progress=None):
            seen.append(list(texts))
            return super().encode(texts, progress)

    meta, _ = embed_index(more, Recording(encoder_dir), reuse_from=[index_dir])
    assert seen == [["pyrexial cough"]] and meta["reused_rows"] == len(LinkIndex.load(index_dir).keys)
    full = tmp_path / "full"
    shutil.copytree(more, full)
    embed_index(full, enc, force=True)
    assert np.allclose(np.load(more / DENSE_DIR / EMBEDDINGS).astype(np.float32),
                       np.load(full / DENSE_DIR / EMBEDDINGS).astype(np.float32), atol=2e-3)
    assert Linker.load(more).dense is not None


def test_stale_or_mismatched_cache_is_refused(index_dir, encoder_dir, tiny_bert, tmp_path):
    embed_index(index_dir, Encoder(encoder_dir))
    # the cache of one index copied into another index
    other = tmp_path / "other-index"
    vocab = read_vocabulary(TINY)
    vocab.concepts = vocab.concepts[:-1]
    LinkIndex.build(vocab).save(other)
    shutil.copytree(index_dir / DENSE_DIR, other / DENSE_DIR)
    with pytest.raises(ModelError, match="stale embedding cache: it was written for another index"):
        Linker.load(other)
    # the encoder changed since (retrained in place)
    from transformers import BertModel

    model = BertModel.from_pretrained(encoder_dir)
    with __import__("torch").no_grad():
        model.embeddings.word_embeddings.weight.mul_(2.0)
    model.save_pretrained(encoder_dir)
    with pytest.raises(ModelError, match="stale embedding cache: the encoder .* is not the one"):
        Linker.load(index_dir)
    # the CLI: one line, exit 2, naming the cache file
    (tmp_path / "dev.pubtator").write_text(DEV, encoding="utf-8")
    r = clinlm("evaluate", "link", "--index", index_dir, "--data", tmp_path / "dev.pubtator")
    assert r.returncode == 2
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {index_dir / DENSE_DIR / META}: stale embedding cache")
    # the encoder gone
    shutil.rmtree(encoder_dir)
    with pytest.raises(ClinlmError, match="encoder the names were embedded with is gone"):
        Linker.load(index_dir)
    # embedding again (with an encoder that exists) makes it usable; the mismatched rows count is refused too
    embed_index(index_dir, Encoder(tiny_bert))
    assert Linker.load(index_dir).dense is not None
    with pytest.raises(ModelError, match="rows"):
        DenseReranker(LinkIndex.load(index_dir), np.zeros((3, 32), dtype=np.float16), Encoder(tiny_bert))


# -- re-ranking -----------------------------------------------------------------------------------
def test_reranking_follows_the_encoder_within_the_lexical_top(index_dir):
    index = LinkIndex.load(index_dir)
    lexical = Linker(index)
    mention = "pyrexial cough"
    ranked = lexical.ranked([mention], n=20)[0][1]
    assert len(ranked) >= 3
    first, second = ranked[0][0], ranked[1][0]
    # the encoder says the lexically second concept is the one
    enc = FixtureEncoder({"pyrexial cough"} | names_of(index, second))
    assert [c["id"] for c in fixture_linker(index, enc, 0.0).candidates([mention], k=3, threshold=0.0)[0]] == \
        [c["id"] for c in lexical.candidates([mention], k=3, threshold=0.0)[0]]
    moved = fixture_linker(index, enc, 0.6).candidates([mention], k=3, threshold=0.0)[0]
    assert moved[0]["id"] == index.ids[second] and moved[1]["id"] == index.ids[first]
    lex2 = ranked[1][1]
    assert moved[0]["score"] == pytest.approx(0.6 * 1.0 + 0.4 * lex2, abs=1e-3)
    # a concept outside the lexical candidates is never brought in, however close the encoder says it is
    outside = next(c for c in range(len(index.ids)) if c not in {r[0] for r in ranked})
    enc2 = FixtureEncoder({"pyrexial cough"} | names_of(index, outside))
    ids = [c["id"] for c in fixture_linker(index, enc2, 1.0).candidates([mention], k=5, threshold=0.0)[0]]
    assert index.ids[outside] not in ids
    # the no-link threshold stays on the lexical score
    assert fixture_linker(index, enc, 1.0).candidates(["zzzz qqqq"], threshold=0.6) == [[]]


def test_a_mention_found_by_its_exact_name_keeps_it_first_without_the_encoder(index_dir):
    index = LinkIndex.load(index_dir)
    lexical = Linker(index)
    exact = ["Pyrexia", "chest pain", "HTN"]
    inexact = ["pyrexial cough", "chest pains left side"]
    # the encoder says every other concept's names are the mentions' twins: cosine 1 for all of them
    keys = {m: lexical.ranked([m])[0][0] for m in exact + inexact}  # what the encoder is given
    others = {k for k in index.keys if k not in {keys[m] for m in exact}}
    enc = CountingEncoder(set(keys.values()) | others)
    linker = fixture_linker(index, enc, 0.9)
    enc.texts.clear()
    got = linker.candidates(exact + inexact, k=3, threshold=0.0)
    assert sorted(enc.texts) == sorted(keys[m] for m in inexact)  # only mentions without an exact name are encoded
    want = lexical.candidates(exact, k=3, threshold=0.0)
    for g, w, m in zip(got, want, exact):
        assert g[0]["id"] == w[0]["id"] and g[0]["score"] == 1.0, m  # the exact name's concept stays first
        assert [c["id"] for c in g] == [c["id"] for c in w]  # the rest in lexical order, lexical scores
        assert [c["score"] for c in g] == [c["score"] for c in w]
    # a full re-ranking (every mention encoded) puts the same concept first
    for m, g in zip(exact, got):
        ranked = linker.ranked([m], n=20)[0]
        cos = linker.dense.cosines([ranked[0]], [[c for c, _, _ in ranked[1]]])[0]
        lex = np.array([s for _, s, _ in ranked[1]])
        assert ranked[1][int(np.argmax(0.9 * cos + 0.1 * lex))][0] == index.ids.index(g[0]["id"])


def test_a_mention_with_nothing_above_the_threshold_is_not_encoded(index_dir):
    index = LinkIndex.load(index_dir)
    far, near = "hypoxemic respiratory failure", "pyrexial cough"
    best_far = Linker(index).ranked([far])[0][1][0][1]
    assert best_far < 0.6 <= Linker(index).ranked([near])[0][1][0][1]
    enc = CountingEncoder(set(index.keys))  # every name is the mentions' twin: re-ranking would move anything
    enc.near |= {Linker(index).ranked([m])[0][0] for m in (far, near)}
    linker = fixture_linker(index, enc, 0.9)
    enc.texts.clear()
    got = linker.candidates([far, near], k=3, threshold=0.6)
    assert got[0] == [] and got[1]  # no link for the far one, as without re-ranking
    assert enc.texts == [Linker(index).ranked([near])[0][0]]  # only the near one was encoded
    # with a threshold it passes, it is encoded and re-ranked
    enc.texts.clear()
    assert linker.candidates([far], k=3, threshold=best_far / 2)[0]
    assert len(enc.texts) == 1


class CountingEncoder(FixtureEncoder):
    """Counts the texts it is asked to encode."""

    def __init__(self, near: set[str]):
        super().__init__(near)
        self.texts: list[str] = []

    def encode(self, texts, progress=None) -> np.ndarray:
        self.texts.extend(texts)
        return super().encode(texts, progress)


def test_a_mention_text_is_encoded_once_while_it_stays_in_the_query_cache(index_dir, monkeypatch):
    import clinlm.linking.dense as dense

    index = LinkIndex.load(index_dir)
    mention = "pyrexial cough"
    second = Linker(index).ranked([mention], n=20)[0][1][1][0]
    enc = CountingEncoder({mention} | names_of(index, second))
    linker = fixture_linker(index, enc, 0.6)
    enc.texts.clear()
    first = linker.candidates([mention, "feverish", mention], k=3, threshold=0.0)
    assert sorted(enc.texts) == ["feverish", mention]  # twice in one call: encoded once
    again = linker.candidates([mention], k=3, threshold=0.0)
    assert len(enc.texts) == 2  # nothing new encoded
    assert again[0] == first[0] == first[2]
    assert first[0][0]["id"] == index.ids[second]  # the cached embedding is the one re-ranking used
    # bounded: the least recently used text is forgotten and encoded again when it comes back
    monkeypatch.setattr(dense, "QUERY_CACHE", 2)
    linker.candidates(["coughing fits", "skin rash"], k=1, threshold=0.0)
    assert len(linker.dense._queries) == 2
    enc.texts.clear()
    linker.candidates([mention], k=1, threshold=0.0)
    assert enc.texts == [mention]


def _doc(i: int, text: str, mentions: list[tuple[str, str]]) -> Document:
    ents, at = [], 0
    for m, cid in mentions:
        s = text.index(m, at)
        ents.append(Entity(s, s + len(m), "Disease", m, attributes={"concept": cid}))
        at = s + len(m)
    return Document(str(i), text, ents)


def test_weight_is_tuned_on_the_mentions_given_and_left_out_annotated_names(index_dir):
    index = LinkIndex.load(index_dir)
    lexical = Linker(index)
    mention = "pyrexial cough"
    ranked = lexical.ranked([mention], n=20)[0][1]
    first, second = index.ids[ranked[0][0]], index.ids[ranked[1][0]]
    enc = FixtureEncoder({"pyrexial cough"} | names_of(index, ranked[1][0]))
    linker = fixture_linker(index, enc, 0.5)
    # training mentions whose gold is what the encoder says: a weight that lets the cosine win
    said = tune_weight(linker, [_doc(1, "A pyrexial cough.", [(mention, second)])])
    assert said["weight"] > 0 and said["acc@1"]["0.00"] == 0.0 and said["acc@1"][f"{said['weight']:.2f}"] == 1.0
    # training mentions whose gold is the lexical first: the smallest weight, 0
    lexical_right = tune_weight(linker, [_doc(1, "A pyrexial cough.", [(mention, first)])])
    assert lexical_right["weight"] == 0.0 and lexical_right["mentions"] == 1
    # the mention itself given as an annotated name: tuning does not see it (it would be exact, 1.0)
    annotated = LinkIndex.build(read_vocabulary(TINY), annotations=[(mention, first)])
    linker2 = fixture_linker(annotated, enc, 0.5)
    assert tune_weight(linker2, [_doc(1, "A pyrexial cough.", [(mention, second)])])["weight"] > 0
    assert Linker(annotated).candidates([mention])[0][0]["id"] == first  # at linking time it is a name


# -- commands -------------------------------------------------------------------------------------
TRAIN = """\
1|t|Adult-onset diabetes and high blood pressure, a pyrexial cough.
1\t0\t20\tAdult-onset diabetes\tDisease\tEX:0002
1\t25\t44\thigh blood pressure\tDisease\tEX:0001
1\t48\t62\tpyrexial cough\tDisease\tEX:0006
"""
DEV = """\
2|t|Fevers, coughs and a heart attack.
2\t0\t6\tFevers\tDisease\tEX:0007
2\t8\t14\tcoughs\tDisease\tEX:0006
2\t21\t33\theart attack\tDisease\tEX:0010
"""


def test_train_embed_tune_evaluate_and_annotate_round_trip(tmp_path, tiny_bert, tiny_tagger):
    import clinlm as api

    idx, enc = tmp_path / "idx", tmp_path / "linker"
    train, dev = tmp_path / "train.pubtator", tmp_path / "dev.pubtator"
    train.write_text(TRAIN, encoding="utf-8")
    dev.write_text(DEV, encoding="utf-8")
    assert clinlm("link", "build", "--vocab", TINY, "--output", idx).returncode == 0
    r = clinlm("train", "linker", "--vocab", TINY, "--model", tiny_bert, "--output", enc, "--dev-fraction", "0.25",
               "--batch-size", "8", "--epochs", "1", "--precision", "fp32", "--json")
    assert r.returncode == 0, r.stderr
    man = json.loads((enc / "clinlm.json").read_text())
    assert man["task"] == "linker" and man["pooling"] == "mean" and man["training"]["dev"]["pairs"] > 0
    r = clinlm("link", "embed", "--index", idx, "--encoder", enc, "--tune-on", train, "--label", "Disease")
    assert r.returncode == 0, r.stderr
    assert b"written" in r.stdout and b"tuned on" in r.stdout
    meta = json.loads((idx / DENSE_DIR / META).read_text())
    assert meta["tuned_on"]["files"][0]["path"] == str(train) and meta["tuned_on"]["mentions"] == 3
    assert 0.0 <= meta["weight"] <= 1.0
    r = clinlm("link", "embed", "--index", idx, "--encoder", enc)
    assert r.returncode == 0 and b"reused" in r.stdout
    assert json.loads((idx / DENSE_DIR / META).read_text()) == meta  # untouched: weight and tuning kept
    r = clinlm("evaluate", "link", "--index", idx, "--data", dev, "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["covered"] == 3 and set(res["reranked"]) >= {"acc@1", "acc@5", "acc@1_all", "weight", "encoder"}
    assert res["reranked"]["weight"] == meta["weight"] and res["acc@1"] == 1.0
    r = clinlm("evaluate", "link", "--index", idx, "--data", dev)
    assert r.returncode == 0 and b"lexical" in r.stdout and b"re-ranked" in r.stdout
    assert "reranked" not in json.loads(clinlm("evaluate", "link", "--index", idx, "--data", dev, "--no-dense",
                                               "--json").stdout)
    assert json.loads((idx / DENSE_DIR / META).read_text()) == meta  # scoring dev never moves the weight
    # the tuning file is no evaluation data
    r = clinlm("evaluate", "link", "--index", idx, "--data", train)
    assert r.returncode == 2 and r.stderr.decode().strip() == \
        f"error: {train}: the index's dense weight was tuned on this file: score on data it was not tuned on (or --no-dense)"
    # annotate --link and clinlm.load(linker=DIR) re-rank
    note = tmp_path / "note.txt"
    note.write_text("fever and cough", encoding="utf-8")
    r = clinlm("annotate", note, "--model", tiny_tagger, "--no-context", "--link", idx, "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    assert [e["attributes"]["concepts"][0]["id"] for e in json.loads(r.stdout)["entities"] if e["attributes"]["concepts"]] \
        == ["EX:0007", "EX:0006"]
    pipe = api.load(tiny_tagger, context=False, linker=idx)
    assert pipe.linkers[0].dense is not None
    assert pipe("fever").entities[0].attributes["concepts"][0]["id"] == "EX:0007"
    # bad options are one line
    r = clinlm("link", "embed", "--index", idx, "--encoder", enc, "--tune-on", train, "--weight", "0.3")
    assert r.returncode == 2 and b"not both" in r.stderr
    r = clinlm("link", "embed", "--index", idx, "--encoder", tmp_path / "nowhere")
    assert r.returncode == 2 and len(r.stderr.decode().strip().splitlines()) == 1


def test_training_mentions_pair_with_their_concepts_preferred_name():
    from clinlm.tasks.linker.task import synonym_pairs

    vocab = read_vocabulary(TINY)
    plain = synonym_pairs([vocab], per_concept=1, seed=3)
    mentions = [("Pyrexial COUGH", "EX:0006"), ("pyrexial cough", "EX:0006"), ("Hypertension", "EX:0001"),
                ("sugar disease", "EX:0002"), ("unknown thing", "EX:9999"), ("", "EX:0007")]
    pairs = synonym_pairs([vocab], per_concept=1, seed=3, annotations=mentions)
    assert pairs[:len(plain)] == plain  # the vocabulary's pairs are unchanged
    added = pairs[len(plain):]
    number = {p.text_a: p.concept for p in plain} | {p.text_b: p.concept for p in plain}
    # one pair per distinct normalized mention; a mention equal to the preferred name pairs with a synonym;
    # ids the vocabulary lacks and empty mentions are skipped
    from clinlm.linking.normalize import normalize

    t2dm = normalize("Type 2 diabetes mellitus")
    assert [(p.text_a, p.text_b) for p in added] == [
        ("pyrexial cough", "cough"), ("hypertension", "high blood pressure"), ("sugar disease", t2dm)]
    assert [p.concept for p in added] == [number["cough"], number["hypertension"], number[t2dm]]


def test_train_linker_names_from_are_recorded_and_never_tune_the_weight(tmp_path, tiny_bert):
    idx, enc, train, other = tmp_path / "idx", tmp_path / "linker", tmp_path / "train.pubtator", tmp_path / "b.pubtator"
    train.write_text(TRAIN, encoding="utf-8")
    other.write_text(DEV.replace("2|t|", "3|t|").replace("\n2\t", "\n3\t"), encoding="utf-8")
    assert clinlm("link", "build", "--vocab", TINY, "--output", idx).returncode == 0
    r = clinlm("train", "linker", "--vocab", TINY, "--model", tiny_bert, "--output", enc, "--dev-fraction", "0.25",
               "--batch-size", "8", "--epochs", "1", "--precision", "fp32", "--names-from", train, "--label", "Disease")
    assert r.returncode == 0, r.stderr
    assert b"3 training mentions read" in r.stderr
    (rec,) = json.loads((enc / "clinlm.json").read_text())["mentions_from"]
    assert rec["path"] == str(train) and rec["sha256"].startswith("sha256:")
    r = clinlm("link", "embed", "--index", idx, "--encoder", enc, "--tune-on", train)
    assert r.returncode == 2 and r.stderr.decode().strip() == (
        f"error: {train}: the encoder was trained on this file's mentions (clinlm train linker --names-from): "
        "tune the weight on other training documents")
    assert not (idx / DENSE_DIR).exists()  # refused before any name was embedded
    r = clinlm("link", "embed", "--index", idx, "--encoder", enc, "--tune-on", other)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("command", [("link", "build", "--output", "IDX"), ("train", "linker", "--output", "ENC")])
def test_names_from_with_a_label_that_matches_nothing_is_an_error(tmp_path, tiny_bert, command):
    train = tmp_path / "train.pubtator"
    train.write_text(TRAIN, encoding="utf-8")
    args = [str(tmp_path / a) if a in ("IDX", "ENC") else a for a in command]
    extra = ["--model", tiny_bert] if command[0] == "train" else []
    r = clinlm(*args, "--vocab", TINY, *extra, "--names-from", train, "--label", "SpecificDisease")
    assert r.returncode == 2
    assert r.stderr.decode().strip() == (f"error: {train}: no mention with a concept id is labelled SpecificDisease here "
                                         "(its labels: Disease)")
    assert not (tmp_path / "IDX").exists() and not (tmp_path / "ENC").exists()


def test_embeddings_do_not_depend_on_how_texts_are_batched(encoder_dir, monkeypatch):
    """Texts are sorted by token count and batched by a token budget; each text's embedding is
    the one it gets alone (padding is masked), in input order."""
    import clinlm.tasks.pair.biencoder as bi

    enc = Encoder(encoder_dir)
    texts = ["fever", "chronic kidney disease stage three with anemia", "HTN", "type 2 diabetes mellitus",
             "a b c d e f g h i j k l m n o p", "cough"]
    together = enc.encode(texts)
    alone = np.stack([enc.encode([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    monkeypatch.setattr(bi, "EMBED_TOKENS", 8)  # a budget smaller than the longest text: one row a batch
    np.testing.assert_allclose(enc.encode(texts), alone, atol=1e-5)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
