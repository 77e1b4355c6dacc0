"""ONNX Runtime backend: export a token-classification checkpoint and run it without torch kernels.

An exported directory is a normal clinlm model directory (config.json, tokenizer, clinlm.json)
whose weights are ``model.onnx``; ``clinlm.load(dir)`` sees that file and runs ONNX Runtime.
fp32 graphs go through onnxruntime's transformer optimizer (fused attention, LayerNorm and
GELU); ``int8`` adds dynamic weight quantization, opt-in because it changes some predictions.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import manifest as manifest_io
from .errors import ConfigError, ModelError

ONNX_FILE = "model.onnx"
OPSET = 17


def is_onnx_dir(path: str | Path) -> bool:
    return (Path(path) / ONNX_FILE).is_file()


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{module} is not installed; install clinlm's onnx extra: pip install 'clinlm[onnx]'") from None


def _logits_module(model):
    """Plain-tensor signature for the exporter: (input_ids, attention_mask) -> logits."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    return Logits(model).eval()


def export(model_dir: str | Path | None, output: str | Path, *, int8: bool = False, optimize: bool = True) -> Path:
    """Write ``output/model.onnx`` plus config, tokenizer and manifest; returns ``output``."""
    import torch

    _require("onnxruntime")
    onnx = _require("onnx")
    from .pipeline import NerPipeline

    if model_dir is not None and is_onnx_dir(model_dir):
        raise ConfigError(f"{model_dir} already holds an ONNX model; export from the torch checkpoint")
    pipe = NerPipeline.from_pretrained(model_dir, device="cpu", precision="fp32", context=False)
    model = pipe.model.float().eval()
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # one plain attention graph the optimizer can fuse
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    # padding in the example keeps the attention mask in the traced graph
    ids = torch.full((2, 16), pipe.tokenizer.pad_token_id or 0, dtype=torch.long)
    ids[:, :12] = 5
    mask = (torch.arange(16) < torch.tensor([[12], [8]])).long()
    axes = {0: "batch", 1: "sequence"}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter about shape-dependent Python branches
            torch.onnx.export(_logits_module(model), (ids, mask), str(raw), input_names=["input_ids", "attention_mask"],
                              output_names=["logits"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": axes})
        current = raw
        if optimize:
            current = _optimize(raw, model.config, Path(tmp) / "opt.onnx")
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            q = Path(tmp) / "int8.onnx"
            # per-channel scales keep far more entities than per-tensor (83% vs 63% identical to
            # fp32 on MM dev abstracts); fused ops (Attention, BiasGelu) are com.microsoft ops shape inference cannot type
            logging.disable(logging.WARNING)  # its advice to pre-process is for static quantization
            try:
                quantize_dynamic(str(current), str(q), weight_type=QuantType.QInt8, per_channel=True,
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            finally:
                logging.disable(logging.NOTSET)
            current = q
        shutil.copyfile(current, output / ONNX_FILE)
    model.config.save_pretrained(output)
    pipe.tokenizer.save_pretrained(output)
    man = dict(pipe.manifest, task="ner", max_length=pipe.max_length, stride=pipe.stride, decode=pipe.decode,
               labels=pipe.labels)
    man["onnx"] = {"int8": int8, "optimized": optimize, "opset": OPSET, "source": str(model_dir or "default")}
    man.pop("weights_dtype", None)
    manifest_io.write(output, man)
    return output


def _optimize(path: Path, config, out: Path) -> Path:
    """onnxruntime's BERT fusions (attention, skip-LayerNorm, bias-GELU); the raw graph if they fail."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError:
        return path
    opt = optimize_model(str(path), model_type="bert", num_heads=config.num_attention_heads,
                         hidden_size=config.hidden_size, opt_level=1)
    opt.save_model_to_file(str(out))
    return out


class OrtModel:
    """An exported model under ONNX Runtime, with the HF ``config`` the pipeline reads labels from."""

    def __init__(self, path: str | Path, *, threads: int | None = None, cuda: bool = False):
        ort = _require("onnxruntime")
        from transformers import AutoConfig

        self.path = Path(path)
        try:
            self.config = AutoConfig.from_pretrained(self.path)
        except Exception as exc:  # noqa: BLE001 - reported in words
            raise ModelError(f"cannot read the model config of {self.path}: {exc}") from None
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if cuda:
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelError("a CUDA device was asked for but this onnxruntime has no CUDA provider "
                                 "(install onnxruntime-gpu, or use --device cpu)")
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(self.path / ONNX_FILE), opts, providers=providers)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"{self.path / ONNX_FILE}: cannot load the ONNX model: {exc}") from None
        self.int8 = bool(manifest_io.read(self.path).get("onnx", {}).get("int8")) if (self.path / "clinlm.json").is_file() else False

    def logprobs(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        logits = self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0].astype(np.float32)
        logits -= logits.max(axis=-1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))

    def save_pretrained(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path / ONNX_FILE, path / ONNX_FILE)
        self.config.save_pretrained(path)
