"""ONNX Runtime backend: export a token-classification checkpoint and run it without torch kernels.

An exported directory is a normal clinlm model directory (config.json, tokenizer, clinlm.json)
whose weights are ``model.onnx``; ``clinlm.load(dir)`` sees that file and runs ONNX Runtime.
fp32 graphs go through onnxruntime's transformer optimizer (fused attention, LayerNorm and
GELU); ``int8`` adds dynamic weight quantization, opt-in because it changes some predictions.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from clinlm import manifest as manifest_io
from clinlm.errors import ConfigError, ModelError

ONNX_FILE = "model.onnx"
OPSET = 17


def is_onnx_dir(path: str | Path) -> bool:
    return (Path(path) / ONNX_FILE).is_file()


class OrtModel:
    """An exported model under ONNX Runtime, with the HF ``config`` the pipeline reads labels from."""

    def __init__(self, path: str | Path, *, threads: int | None = None, cuda: bool = False):
        ort = require("onnxruntime")
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


def require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{module} is not installed; install clinlm's onnx extra: pip install 'clinlm[onnx]'") from None
