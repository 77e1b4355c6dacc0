"""Export an NER checkpoint to ONNX (fp32, optimised, optionally int8) for :mod:`clinlm.runtime.onnx`."""
from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from pathlib import Path

from clinlm import manifest as manifest_io
from clinlm.errors import ConfigError
from clinlm.runtime.onnx import ONNX_FILE, OPSET, is_onnx_dir, require



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

    require("onnxruntime")
    onnx = require("onnx")
    from clinlm.tasks.ner.pipeline import NerPipeline

    if model_dir is not None and is_onnx_dir(model_dir):
        raise ConfigError(f"{model_dir} already holds an ONNX model; export from the torch checkpoint")
    pipe = NerPipeline.from_pretrained(model_dir, device="cpu", precision="fp32", context=False, engine="transformers")
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
