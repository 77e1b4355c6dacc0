"""Weight averaging of fine-tuned checkpoints (``clinlm train average``, clinlm.tasks.averaging)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from clinlm.errors import ConfigError
from clinlm.tasks.averaging import average_checkpoints


def _perturbed(src: Path, out: Path, seed: int, dtype: torch.dtype | None = None) -> Path:
    """A copy of ``src`` whose floating-point weights moved by seeded noise (another "fine-tune")."""
    shutil.copytree(src, out)
    g = torch.Generator().manual_seed(seed)
    state = load_file(out / "model.safetensors")
    state = {k: ((v + torch.randn(v.shape, generator=g) * 0.05).to(dtype or v.dtype) if v.is_floating_point() else v)
             for k, v in state.items()}
    save_file(state, out / "model.safetensors", metadata={"format": "pt"})
    return out


@pytest.fixture()
def pair(tagger, tmp_path) -> tuple[Path, Path]:
    a = _perturbed(tagger, tmp_path / "a", 1)
    b = _perturbed(tagger, tmp_path / "b", 2)
    man = json.loads((a / "clinlm.json").read_text())
    man["metrics"] = {"test": {"strict": {"f1": 0.9}}}
    man["training"] = {"dev": {"strict": {"f1": 0.8}}}
    (a / "clinlm.json").write_text(json.dumps(man))
    return a, b


def test_the_mean_of_the_weights_with_the_first_models_files(pair, tmp_path):
    a, b = pair
    entry = average_checkpoints([a, b], tmp_path / "soup", [1, 3])
    assert entry["weights"] == [0.25, 0.75]
    sa, sb, s = (load_file(p / "model.safetensors") for p in (a, b, tmp_path / "soup"))
    for k, v in s.items():
        assert v.dtype == sa[k].dtype
        torch.testing.assert_close(v, 0.25 * sa[k] + 0.75 * sb[k], rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in (tmp_path / "soup").iterdir()) == sorted(p.name for p in a.iterdir())
    man = json.loads((tmp_path / "soup" / "clinlm.json").read_text())
    assert "metrics" not in man and "training" not in man  # a's figures are not the soup's
    assert man["averaged"] == {"models": [str(a), str(b)], "weights": [0.25, 0.75]}
    assert man["labels"] == json.loads((a / "clinlm.json").read_text())["labels"]


def test_half_precision_weights_stay_half(tagger, tmp_path):
    a = _perturbed(tagger, tmp_path / "a", 1, torch.float16)
    b = _perturbed(tagger, tmp_path / "b", 2, torch.float16)
    average_checkpoints([a, b], tmp_path / "soup")
    s = load_file(tmp_path / "soup" / "model.safetensors")
    sa, sb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    for k, v in s.items():
        assert v.dtype == torch.float16
        torch.testing.assert_close(v.float(), (sa[k].float() + sb[k].float()) / 2, rtol=1e-3, atol=1e-3)


def test_a_model_averaged_with_itself_tags_as_it_did(tagger, tmp_path):
    import clinlm

    average_checkpoints([tagger, tagger], tmp_path / "soup")
    text = "The patient denies chest pain and fever. Mother had cancer; aspirin 81 mg daily."
    before = clinlm.load(str(tagger), context=False)(text).entities
    after = clinlm.load(str(tmp_path / "soup"), context=False)(text).entities
    assert before and [(e.start, e.end, e.label) for e in after] == [(e.start, e.end, e.label) for e in before]


def test_other_labels_do_not_average(pair, tmp_path):
    a, b = pair
    config = json.loads((b / "config.json").read_text())
    config["id2label"] = {str(i): f"X{i}" for i in range(len(config["id2label"]))}
    (b / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="id2label"):
        average_checkpoints([a, b], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


def test_other_shapes_do_not_average(pair, tmp_path):
    a, b = pair
    state = load_file(b / "model.safetensors")
    name = next(k for k in state if k.endswith("classifier.bias"))
    state[name] = torch.zeros(state[name].shape[0] + 1)
    save_file(state, b / "model.safetensors")
    with pytest.raises(ConfigError, match="shape"):
        average_checkpoints([a, b], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


@pytest.mark.parametrize("weights, match", [([1.0], "one weight per checkpoint"), ([1.0, -1.0], "none negative"),
                                            ([0.0, 0.0], "not all zero"), ([float("nan"), 1.0], "finite")])
def test_bad_weights(pair, tmp_path, weights, match):
    with pytest.raises(ConfigError, match=match):
        average_checkpoints(list(pair), tmp_path / "soup", weights)


def test_never_overwrites_and_leaves_nothing_half_written(pair, tmp_path, monkeypatch):
    a, b = pair
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        average_checkpoints([a, b], tmp_path / "full")
    with pytest.raises(ConfigError, match="one of the checkpoints"):
        average_checkpoints([a, b], a)
    with pytest.raises(ConfigError, match="no model.safetensors"):
        average_checkpoints([a, tmp_path / "full"], tmp_path / "soup")

    import safetensors.torch

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    with pytest.raises(OSError):
        average_checkpoints([a, b], tmp_path / "soup")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "full"]  # no soup, no temporary folder


def test_cli(pair, tmp_path):
    from clinlm.cli.main import app

    a, b = pair
    runner = CliRunner()
    res = runner.invoke(app, ["train", "average", str(a), str(b), "--output", str(tmp_path / "soup"), "--weights", "1,1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "soup" / "model.safetensors").is_file()
    res = runner.invoke(app, ["train", "average", str(a), str(b), "--output", str(tmp_path / "soup2"), "--weights", "1,x"])
    assert res.exit_code != 0 and "--weights takes numbers" in str(res.exception or res.output)
    assert not (tmp_path / "soup2").exists()
