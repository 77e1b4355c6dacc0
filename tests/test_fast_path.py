"""The fast annotation path: packing, precision and device choice, threads, streaming, ONNX Runtime."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinlm.runtime import device as modeling, threads
from clinlm.errors import ConfigError
from clinlm.tasks.ner.pipeline import NerPipeline, _pack
from clinlm.windows import encode

NOTE = "The patient denies chest pain and fever. Mother had cancer. Blood pressure with aspirin daily."
LONG = " ".join([NOTE] * 12)


def _keys(docs):
    return [[e.key() for e in d.entities] for d in docs]


def _logprobs(pipe, texts):
    return pipe.word_logprobs(encode(pipe.tokenizer, texts))


# -- packing ----------------------------------------------------------------------------
@given(st.lists(st.integers(1, 60), max_size=80), st.integers(1, 400))
def test_packing_keeps_every_window_once_in_order_within_budget(lengths, budget):
    jobs = sorted(enumerate(lengths), key=lambda j: j[1])
    batches = list(_pack(jobs, lambda j: j[1], budget))
    assert [j for b in batches for j in b] == jobs  # nothing dropped, duplicated or reordered
    for b in batches:
        assert b and (len(b) == 1 or max(j[1] for j in b) * len(b) <= budget)


def test_logprobs_do_not_depend_on_the_batch_budget(tagger):
    texts = [LONG, NOTE, "fever", "", LONG[:300]]
    big = NerPipeline.from_pretrained(tagger, precision="fp32", context=False, batch_tokens=1 << 20)
    ref = _logprobs(big, texts)
    for budget in (1, 40, 100):
        small = NerPipeline.from_pretrained(tagger, precision="fp32", context=False, batch_tokens=budget)
        for a, b in zip(ref, _logprobs(small, texts)):
            np.testing.assert_allclose(a, b, atol=1e-5)
        assert _keys(small.pipe(texts)) == _keys(big.pipe(texts))


def test_bf16_stays_close_to_fp32(tagger):
    fp32 = NerPipeline.from_pretrained(tagger, precision="fp32", context=False)
    bf16 = NerPipeline.from_pretrained(tagger, precision="bf16", context=False)
    assert fp32.dtype == torch.float32 and bf16.dtype == torch.bfloat16
    assert next(bf16.model.parameters()).dtype == torch.float32  # CPU: fp32 weights, bf16 autocast
    a, b = _logprobs(fp32, [LONG])[0], _logprobs(bf16, [LONG])[0]
    assert not np.array_equal(a, b)  # bf16 really ran
    assert np.abs(np.exp(a) - np.exp(b)).max() < 0.05


# -- precision, device and threads ------------------------------------------------------
def test_precision_flags_force_a_dtype_and_auto_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    assert modeling.resolve_dtype("fp32", cpu) == torch.float32
    assert modeling.resolve_dtype("bf16", cpu) == torch.bfloat16
    monkeypatch.setattr(modeling, "cpu_supports_bf16", lambda: False)
    assert modeling.resolve_dtype("auto", cpu) == torch.float32
    monkeypatch.setattr(modeling, "cpu_supports_bf16", lambda: True)
    assert modeling.resolve_dtype("auto", cpu) == torch.bfloat16
    with pytest.raises(modeling.ModelError, match="unknown precision"):
        modeling.resolve_dtype("int4", cpu)


def test_gpu_is_chosen_when_present_with_its_best_half_type(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert modeling.resolve_device("auto") == torch.device("cuda")
    gpu = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert modeling.resolve_dtype("auto", gpu) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert modeling.resolve_dtype("auto", gpu) == torch.float16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert modeling.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(modeling.ModelError, match="no CUDA GPU"):
        modeling.resolve_device("cuda")


def test_bf16_needs_native_instructions():
    assert modeling.cpu_supports_bf16({"avx2", "fma", "avx512f"}) is False
    native = modeling.cpu_supports_bf16({"avx512_bf16"})
    assert native == bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def test_threads_count_physical_cores_within_the_quota(tmp_path, monkeypatch):
    for cpu, core in ((0, 0), (1, 0), (2, 1), (3, 1)):  # two cores with two hyper-threads each
        topo = tmp_path / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text("0\n")
        (topo / "core_id").write_text(f"{core}\n")
    assert threads.physical_cores([0, 1, 2, 3], sysfs=tmp_path) == 2
    assert threads.physical_cores([0, 1], sysfs=tmp_path) == 1
    assert threads.physical_cores([7], sysfs=tmp_path) == 1  # unreadable topology: count CPUs
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")
    assert threads.cgroup_cpu_limit(quota) == 2
    quota.write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(quota) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.inference_threads() == 3


# -- streaming --------------------------------------------------------------------------
def test_streaming_reads_notes_only_as_needed(tagger):
    pipe = NerPipeline.from_pretrained(tagger, context=False)
    pulled = []

    def notes():
        for i in range(10_000):
            pulled.append(i)
            yield NOTE

    stream = pipe.pipe(notes(), batch_size=4)
    first = next(stream)
    assert first.text == NOTE and len(pulled) == 4
    next(stream), next(stream), next(stream), next(stream)
    assert len(pulled) == 8


# -- ONNX Runtime -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def onnx_dirs(tagger, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from clinlm.tasks.ner.export import export

    base = tmp_path_factory.mktemp("onnx")
    return export(tagger, base / "fp32"), export(tagger, base / "int8", int8=True)


def test_onnx_export_agrees_with_torch(tagger, onnx_dirs):
    from clinlm.runtime.onnx import OrtModel

    texts = [LONG, NOTE, ""]
    torch_pipe = NerPipeline.from_pretrained(tagger, precision="fp32", context=False)
    ort_pipe = NerPipeline.from_pretrained(onnx_dirs[0], context=False)
    assert isinstance(ort_pipe.model, OrtModel) and (ort_pipe.max_length, ort_pipe.stride) == (16, 5)
    for a, b in zip(_logprobs(torch_pipe, texts), _logprobs(ort_pipe, texts)):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert _keys(ort_pipe.pipe(texts)) == _keys(torch_pipe.pipe(texts))
    q = NerPipeline.from_pretrained(onnx_dirs[1], context=False)
    assert q.model.int8 and _logprobs(q, [LONG])[0].shape == _logprobs(torch_pipe, [LONG])[0].shape


def test_onnx_precision_is_fixed_at_export(onnx_dirs):
    with pytest.raises(ConfigError, match="fixed at export"):
        NerPipeline.from_pretrained(onnx_dirs[0], precision="bf16")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.sampled_from(list("ab \r\n\tchest pain fever\u00e9\u4e2d.,")), max_size=300))
def test_onnx_offsets_are_exact_on_any_text(onnx_dirs, text):
    pipe = _cached(onnx_dirs[1])
    doc = pipe(text)
    for e in doc.entities:
        assert text[e.start : e.end] == e.text and e.text.strip() == e.text


_pipes: dict = {}


def _cached(path):
    if path not in _pipes:
        _pipes[path] = NerPipeline.from_pretrained(path, context=False)
    return _pipes[path]


@pytest.mark.slow
def test_cli_exports_and_annotates_with_onnx(tagger, tmp_path):
    pytest.importorskip("onnxruntime")
    import json

    run = lambda *a: subprocess.run([sys.executable, "-m", "clinlm", *map(str, a)], capture_output=True)  # noqa: E731
    r = run("export", "onnx", "--model", tagger, "--output", tmp_path / "x")
    assert r.returncode == 0, r.stderr.decode()
    assert (tmp_path / "x" / "model.onnx").is_file()
    note = tmp_path / "n.txt"
    note.write_text(LONG)
    r = run("annotate", note, "--model", tmp_path / "x", "--format", "jsonl", "--no-context")
    assert r.returncode == 0, r.stderr.decode()
    doc = json.loads(r.stdout)
    expected = _cached(tagger)(LONG)
    assert [(e["start"], e["end"], e["label"]) for e in doc["entities"]] == [(e.start, e.end, e.label) for e in expected.entities]
    r = run("export", "onnx", "--model", tmp_path / "x", "--output", tmp_path / "y")
    assert r.returncode == 2 and b"already holds an ONNX model" in r.stderr
