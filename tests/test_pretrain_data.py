"""clinlm pretrain's data path: corpus files -> documents -> token cache -> packed, masked sequences.

Fast units (no model is trained here): what a document is in every input format, the held-out split,
the token cache and its reuse, packing, the order sequences are read in, whole-word masking, and
the plan a budget buys.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinlm.errors import ClinlmError, ConfigError, InputError
from clinlm.pretrain import corpus as corpus_mod
from clinlm.pretrain.corpus import ReadStats, blocks, find_sources, fingerprint, heldout
from clinlm.pretrain.masking import choose_words, mask_sequence, word_index
from clinlm.pretrain.packing import (
    Permutation,
    chunk_count,
    chunks_at,
    micro_positions,
    sequence,
    step_positions,
)
from clinlm.pretrain.plan import lr_lambda, make_plan, resolve_batch
from clinlm.pretrain.tokens import ensure_cache, plain_backend

SECRET = "Jane Roe MRN 1234567"  # stands for note text that must never reach an error message


def documents(sources, text_field="text", stats=None) -> list[str]:
    """The corpus as whole document texts (blocks joined)."""
    docs, current = [], []
    for b in blocks(sources, text_field, stats):
        current.append(b.text)
        if b.last:
            docs.append("".join(current))
            current = []
    assert current == []
    return docs


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_every_input_format_gives_its_documents(tmp_path):
    (tmp_path / "a.txt").write_text("first note\n\nsecond paragraph of the same note\n")
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress("gzipped note".encode()))
    (tmp_path / "c.jsonl").write_text('{"body": "line one"}\n\n{"body": "line two"}\n')
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(b'{"body": "gz line"}\n'))
    _tar(tmp_path / "e.tar.gz", {"x/1.txt": b"tar text", "x/2.xml": b"<a>skipped</a>", "x/3.jsonl": b'{"body": "tar line"}\n'})
    with zipfile.ZipFile(tmp_path / "f.zip", "w") as zf:
        zf.writestr("in/zip.txt", "zip text")
        zf.writestr("in/all.json", '{"u": "skipped"}')
    (tmp_path / "README.md").write_text("not corpus")
    stats = ReadStats()
    docs = documents(find_sources([tmp_path]), "body", stats)
    assert docs == ["first note\n\nsecond paragraph of the same note\n", "gzipped note", "line one", "line two", "gz line",
                    "tar text", "tar line", "zip text"]
    assert stats.skipped_members == 2


def test_document_jsonl_is_read_by_its_text_field(tmp_path):
    from clinlm.document import Document
    from clinlm.formats import write_documents

    d = Document("n1", "Chest pain. No fever.")
    d.add(0, 10, "T184")
    write_documents([d, Document("n2", "Cough.")], tmp_path / "docs.jsonl", "jsonl")
    assert documents(find_sources([tmp_path / "docs.jsonl"])) == ["Chest pain. No fever.", "Cough."]


def test_a_text_file_is_one_document_streamed_in_blocks_cut_at_whitespace(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_mod, "BLOCK_CHARS", 64)
    text = "\ufeff" + " ".join(f"word{i}" for i in range(300)) + "\n"
    (tmp_path / "big.txt").write_text(text, encoding="utf-8")
    got = list(blocks(find_sources([tmp_path / "big.txt"])))
    assert len(got) > 10 and [b.last for b in got] == [False] * (len(got) - 1) + [True]
    assert "".join(b.text for b in got) == text[1:]  # the BOM dropped, nothing else changed
    assert all(b.text[-1].isspace() for b in got[:-1])  # never inside a word
    assert len({b.doc_key for b in got}) == 1


@pytest.mark.parametrize("name, data, expected", [
    ("bad.txt", b"ok " + SECRET.encode() + b" \xff\xfe", "not valid UTF-8"),
    ("bad.jsonl", ('{"text": "' + SECRET + '"}\n{"text": ' + SECRET + "}\n").encode(), "bad.jsonl:2: invalid JSON"),
    ("field.jsonl", ('{"note": "' + SECRET + '"}\n').encode(), "field.jsonl:1: no 'text' field"),
    ("bad.txt.gz", b"not gzip " + SECRET.encode(), "cannot read"),
    ("bad.zip", b"PK not a zip " + SECRET.encode(), "not a readable archive"),
])
def test_unreadable_input_is_a_one_line_error_that_names_the_file_and_holds_no_text(tmp_path, name, data, expected):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError) as exc:
        documents(find_sources([tmp_path / name]))
    message = str(exc.value)
    assert expected in message and name in message and "\n" not in message
    assert "Jane" not in message and "1234567" not in message


def test_missing_paths_and_empty_directories_are_errors(tmp_path):
    with pytest.raises(InputError, match="no such file or directory"):
        find_sources([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no corpus files in this directory"):
        find_sources([tmp_path / "empty"])
    with pytest.raises(InputError, match="no corpus given"):
        find_sources([])


def test_fingerprint_follows_content_not_names(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    first = fingerprint(find_sources([tmp_path / "a.txt"]))
    (tmp_path / "a.txt").rename(tmp_path / "b.txt")
    assert fingerprint(find_sources([tmp_path / "b.txt"])) == first
    (tmp_path / "b.txt").write_text("two")
    assert fingerprint(find_sources([tmp_path / "b.txt"])) != first


hex_keys = st.binary(min_size=1, max_size=20).map(lambda b: hashlib.sha256(b).hexdigest())


@given(keys=st.lists(hex_keys, min_size=1, max_size=50, unique=True), f=st.floats(0, 0.99), g=st.floats(0, 0.99))
def test_heldout_split_is_deterministic_disjoint_and_nested(keys, f, g):
    lo, hi = sorted((f, g))
    out_lo = {k for k in keys if heldout(k, lo)}
    out_hi = {k for k in keys if heldout(k, hi)}
    assert out_lo == {k for k in keys if heldout(k, lo)}  # the same answer every time
    assert out_lo <= out_hi  # a larger fraction only adds documents
    train = {k for k in keys if not heldout(k, lo)}
    assert train.isdisjoint(out_lo) and train | out_lo == set(keys)


def test_heldout_share_is_near_the_fraction():
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(20000)]
    share = sum(heldout(k, 0.05) for k in keys) / len(keys)
    assert 0.04 < share < 0.06 and not any(heldout(k, 0.0) for k in keys)


# -- the token cache ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    from clinlm.runtime.loading import load_tokenizer

    return load_tokenizer(str(tiny_bert))


def _notes(folder: Path, n: int = 12) -> Path:
    import random

    from conftest import WORDS

    folder.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(1)
    for i in range(n):
        (folder / f"n{i:02d}.txt").write_text(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(5, 40))) + ".\n")
    return folder


def test_cache_is_built_once_reused_and_holds_documents_separated_by_sep(tmp_path, tokenizer):
    notes = _notes(tmp_path / "notes")
    sources = find_sources([notes])
    first = ensure_cache(tmp_path / "cache", sources, tokenizer, "text", 0.0)
    again = ensure_cache(tmp_path / "cache", find_sources([notes]), tokenizer, "text", 0.0)
    assert first.built and not again.built and first.folder == again.folder
    assert first.meta["dtype"] == "uint16" and first.meta["documents"] == {"train": 12, "heldout": 0}
    expected: list[int] = []
    for f in sorted(notes.glob("*.txt")):
        expected += tokenizer(f.read_text(), add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
    ids, starts = again.train.read(0, len(again.train))
    assert ids.tolist() == expected and starts[0]
    other = ensure_cache(tmp_path / "cache", sources, tokenizer, "text", 0.5)  # another setting: another cache
    assert other.built and other.folder != first.folder
    assert other.meta["tokens"]["train"] + other.meta["tokens"]["heldout"] == len(first.train)
    assert (first.folder.stat().st_mode & 0o077) == 0  # the cache is the corpus: owner only


def test_truncation_or_padding_saved_in_a_tokenizer_never_cuts_or_pads_documents(tokenizer):
    from clinlm.pretrain.tokens import _encode

    tokenizer.backend_tokenizer.enable_truncation(max_length=4)
    tokenizer.backend_tokenizer.enable_padding(length=6)
    try:
        (ids, starts), = _encode(plain_backend(tokenizer), ["the patient denies chest pain and fever today"])
    finally:
        tokenizer.backend_tokenizer.no_truncation()
        tokenizer.backend_tokenizer.no_padding()
    assert len(ids) > 6 and tokenizer.pad_token_id not in ids.tolist()


def test_word_starts_follow_the_pre_tokenizer(tokenizer):
    from clinlm.pretrain.tokens import _encode

    text = "metformin aspirinx"
    (ids, starts), = _encode(plain_backend(tokenizer), [text])
    enc = tokenizer(text, add_special_tokens=False)
    words = enc.word_ids()
    assert starts.tolist() == [i == 0 or words[i] != words[i - 1] for i in range(len(words))]
    assert sum(starts) == 2 < len(ids)


def test_an_empty_corpus_is_an_error_that_mentions_skipped_archive_members(tmp_path, tokenizer):
    _tar(tmp_path / "xml.tar.gz", {"a.xml": b"<q>" + SECRET.encode() + b"</q>"})
    (tmp_path / "blank.txt").write_text("  \n\n")
    with pytest.raises(InputError, match=r"no text .* 1 archive member\(s\) of other kinds") as exc:
        ensure_cache(tmp_path / "cache", find_sources([tmp_path]), tokenizer, "text", 0.0)
    assert SECRET not in str(exc.value)
    assert not any((tmp_path / "cache").iterdir())  # nothing half-built left behind


# -- packing and order ----------------------------------------------------------------------------
class ArrayStream:
    """A TokenStream over arrays (what the memmap shards hold)."""

    def __init__(self, ids, starts):
        self.ids, self.starts = np.asarray(ids, np.int64), np.asarray(starts, bool)

    def __len__(self):
        return len(self.ids)

    def read(self, a, b):
        return self.ids[a:b], self.starts[a:b]


@given(docs=st.lists(st.integers(1, 40), min_size=1, max_size=20), length=st.integers(2, 33))
def test_packing_covers_every_token_of_every_document_exactly_once(docs, length):
    sep, cls = 1, 2
    stream, token = [], 100
    for n in docs:
        stream += list(range(token, token + n)) + [sep]
        token += n
    s = ArrayStream(stream, [True] * len(stream))
    n_chunks = chunk_count(len(s), length)
    seen = []
    for c in range(n_chunks):
        ids, starts = sequence(s, c, length, cls)
        assert ids[0] == cls and len(ids) <= length and (len(ids) == length or c == n_chunks - 1)
        seen += ids[1:].tolist()
    assert seen == stream  # in order, nothing lost, nothing twice
    assert [t for t in seen if t != sep] == list(range(100, token))


@given(n=st.integers(1, 3000), key=st.tuples(st.integers(0, 2**31), st.integers(0, 3), st.integers(0, 50)))
@settings(max_examples=60)
def test_the_order_of_sequences_is_a_permutation_of_every_epoch(n, key):
    perm = Permutation(n, key)(np.arange(n))
    assert sorted(perm.tolist()) == list(range(n))
    assert perm.tolist() == Permutation(n, key)(np.arange(n)).tolist()


def test_epochs_are_shuffled_differently():
    _, first = chunks_at(np.arange(100), 100, seed=0, phase=0)
    epochs, second = chunks_at(np.arange(100, 200), 100, seed=0, phase=0)
    assert set(epochs.tolist()) == {1} and sorted(second.tolist()) == list(range(100)) and first.tolist() != second.tolist()


@given(world=st.integers(1, 4), batch=st.integers(1, 5), accum=st.integers(1, 4), step=st.integers(0, 30))
def test_ranks_read_disjoint_positions_that_make_up_the_effective_batch(world, batch, accum, step):
    got = [p for r in range(world) for m in range(accum) for p in micro_positions(step, m, r, world, batch, accum).tolist()]
    assert len(got) == len(set(got)) == batch * accum * world
    assert sorted(got) == step_positions(step, batch * accum * world).tolist()


# -- masking --------------------------------------------------------------------------------------
SPECIAL = np.array([0, 1, 2, 3, 4])  # [PAD] [UNK] [CLS] [SEP] [MASK]


@st.composite
def packed_sequences(draw):
    """A packed sequence: [CLS], words of 1-4 subwords, [SEP] between documents, maybe padding."""
    ids, starts = [2], [True]
    for _ in range(draw(st.integers(1, 60))):
        if draw(st.integers(0, 9)) == 0:
            ids.append(3)
            starts.append(True)
            continue
        for j in range(draw(st.integers(1, 4))):
            ids.append(draw(st.integers(5, 99)))
            starts.append(j == 0)
    pad = draw(st.integers(0, 3))
    return np.array(ids + [0] * pad), np.array(starts + [True] * pad)


@given(seq=packed_sequences(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_masking_never_masks_special_tokens_and_masks_whole_words(seq, seed):
    ids, starts = seq
    corrupted, positions, labels = mask_sequence(ids, starts, SPECIAL, 4, 100, np.random.default_rng(seed))
    assert not np.isin(ids[positions], SPECIAL).any()
    assert labels.tolist() == ids[positions].tolist()
    words = word_index(ids, starts, SPECIAL)
    chosen = np.zeros(len(ids), bool)
    chosen[positions] = True
    for w in np.unique(words[words >= 0]):
        assert len(set(chosen[words == w].tolist())) == 1  # a word is masked whole or not at all
    maskable = int((words >= 0).sum())
    longest = int(np.bincount(words[words >= 0]).max()) if maskable else 0
    assert abs(len(positions) - 0.15 * maskable) <= longest  # as near 15% as whole words allow
    unchanged = ~chosen
    assert (corrupted[unchanged] == ids[unchanged]).all()


def test_masking_rate_and_80_10_10_split_over_many_sequences():
    rng = np.random.default_rng(0)
    n = masked = as_mask = kept = 0
    for _ in range(400):
        ids = rng.integers(5, 1000, size=128)
        starts = rng.random(128) < 0.7
        ids[0] = 2
        corrupted, positions, labels = mask_sequence(ids, starts, SPECIAL, 4, 1000, rng)
        n += 127
        masked += len(positions)
        as_mask += int((corrupted[positions] == 4).sum())
        kept += int((corrupted[positions] == labels).sum())
    assert abs(masked / n - 0.15) < 0.005
    assert abs(as_mask / masked - 0.8) < 0.03 and abs(kept / masked - 0.1) < 0.03


def test_choose_words_picks_at_least_one_word():
    words = np.array([-1, 0, 0, 0, -1])
    assert choose_words(words, 0.15, np.random.default_rng(0)).tolist() == [False, True, True, True, False]
    assert not choose_words(np.array([-1, -1]), 0.15, np.random.default_rng(0)).any()


# -- plan ------------------------------------------------------------------------------------------
def test_effective_batch_is_per_device_times_accumulation_times_world():
    assert resolve_batch(8, 4, None, 256).accum == 8 and resolve_batch(8, 4, None, 256).sequences == 256
    assert resolve_batch(8, 2, 3, None).sequences == 48
    with pytest.raises(ConfigError, match="not a multiple"):
        resolve_batch(8, 3, None, 100)


def test_a_budget_smaller_than_one_step_is_an_error():
    batch = resolve_batch(4, 1, 2, None)
    with pytest.raises(ConfigError, match="smaller than one optimizer step: 8 sequences x 128 tokens = 1024 tokens"):
        make_plan((128,), (), batch, train_tokens=10**6, tokens=1000)
    assert make_plan((128,), (), batch, 10**6, tokens=1024).total_steps == 1
    with pytest.raises(ConfigError, match="smaller than one optimizer step"):
        make_plan((128,), (), batch, train_tokens=0)


def test_phases_and_budgets():
    batch = resolve_batch(2, 1, None, None)
    plan = make_plan((16, 64), (3,), batch, train_tokens=10**6, tokens=3 * 2 * 16 + 2 * 2 * 64 + 5)
    assert plan.total_steps == 5 and plan.phase_at(2) == (0, 2) and plan.phase_at(3) == (1, 0)
    assert make_plan((16,), (), batch, train_tokens=100).total_steps == 4  # one pass: ceil(100 / 32)
    with pytest.raises(ConfigError, match="ends before the last --max-length phase"):
        make_plan((16, 64), (10,), batch, 10**6, max_steps=5)
    with pytest.raises(ConfigError, match="need 1 --phase-steps"):
        make_plan((16, 64), (), batch, 10**6, max_steps=5)
    with pytest.raises(ConfigError, match="longer than the model's 64 positions"):
        make_plan((128,), (), batch, 10**6, max_steps=5, limit=64)


def test_learning_rate_warms_up_then_decays_to_zero():
    linear = [lr_lambda(s, 10, 2, "linear") for s in range(10)]
    cosine = [lr_lambda(s, 10, 2, "cosine") for s in range(10)]
    assert linear[:3] == [0.5, 1.0, 1.0] and linear[-1] == pytest.approx(1 / 8)
    assert all(a >= b for a, b in zip(linear[1:], linear[2:])) and all(a >= b for a, b in zip(cosine[1:], cosine[2:]))
    assert lr_lambda(10, 10, 2, "cosine") == pytest.approx(0.0)


def test_errors_are_clinlm_errors():
    assert issubclass(InputError, ClinlmError) and issubclass(ConfigError, ClinlmError)
