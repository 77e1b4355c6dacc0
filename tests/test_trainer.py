"""The shared trainer's recipe options: layer-wise learning-rate decay and checkpoint averaging."""
from __future__ import annotations

import pytest
import torch

from clinlm.tasks.ner.task import NerTask
from clinlm.tasks.trainer import TrainArgs, _mean_state, param_groups, train
from test_pipeline import gold_docs


@pytest.fixture(scope="module")
def net(tiny_bert):
    docs = gold_docs(2)
    model, _ = NerTask(max_length=16, stride=4).build(str(tiny_bert), docs)
    return model


def _rate_of(groups: list[dict], param: torch.Tensor) -> tuple[float, float]:
    (group,) = [g for g in groups if any(p is param for p in g["params"])]
    return group["lr"], group["weight_decay"]


def test_layer_decay_gives_lower_layers_smaller_rates(net):
    layers = net.config.num_hidden_layers
    params = dict(net.named_parameters())
    groups = param_groups(net, 1e-3, 0.01, layer_decay=0.5)
    assert sum(len(g["params"]) for g in groups) == len(params)  # each parameter in exactly one group
    head = _rate_of(groups, params["classifier.weight"])
    top = _rate_of(groups, params[f"bert.encoder.layer.{layers - 1}.attention.self.query.weight"])
    bottom = _rate_of(groups, params["bert.encoder.layer.0.attention.self.query.weight"])
    embeddings = _rate_of(groups, params["bert.embeddings.word_embeddings.weight"])
    assert head == (1e-3, 0.01)
    assert top == pytest.approx((1e-3 * 0.5, 0.01))
    assert bottom == pytest.approx((1e-3 * 0.5 ** layers, 0.01))
    assert embeddings == pytest.approx((1e-3 * 0.5 ** (layers + 1), 0.01))
    # biases and norms keep their layer's rate but no weight decay
    assert _rate_of(groups, params["bert.encoder.layer.0.attention.self.query.bias"]) == pytest.approx(
        (1e-3 * 0.5 ** layers, 0.0))


def test_without_layer_decay_every_parameter_shares_one_rate(net):
    groups = param_groups(net, 2e-5, 0.1)
    assert {g["lr"] for g in groups} == {2e-5}
    assert sorted(g["weight_decay"] for g in groups) == [0.0, 0.1]


def test_mean_state_averages_floats_and_keeps_integer_buffers_from_the_last():
    a = {"w": torch.tensor([1.0, 3.0]), "ids": torch.tensor([0, 1])}
    b = {"w": torch.tensor([3.0, 5.0]), "ids": torch.tensor([2, 3])}
    out = _mean_state([a, b])
    assert torch.equal(out["w"], torch.tensor([2.0, 4.0]))
    assert torch.equal(out["ids"], b["ids"])


def test_averaged_checkpoint_is_scored_and_kept_only_when_best(tiny_bert, tmp_path):
    docs = gold_docs(8)
    task = NerTask(max_length=16, stride=4)
    model, tok = task.build(str(tiny_bert), docs)
    args = TrainArgs(epochs=4, learning_rate=3e-3, batch_size=4, seed=3, evals_per_epoch=2, average_last=3, layer_decay=0.9)
    summary = train(task, model, tok, docs, docs[:2], args, tmp_path / "m")
    history = summary["history"]
    averaged = [h for h in history if "averaged" in h]
    assert len(averaged) == 1 and averaged[0]["averaged"] == 3 and history[-1] is averaged[0]
    best = max(h["dev"] for h in history)
    assert summary["dev"]["strict"]["f1"] == best
    # the model left in memory (and saved) is the selected one: scoring it again gives the best figure
    assert task.evaluate(model, tok, docs[:2])["strict"]["f1"] == pytest.approx(best)


def test_the_last_step_is_not_evaluated_again_right_after_an_evaluation(tiny_bert, tmp_path):
    docs = gold_docs(12)
    task = NerTask(max_length=16, stride=4)
    model, tok = task.build(str(tiny_bert), docs)
    per_epoch = len(task.features(docs, model, tok))  # batch 1: one step per window
    assert per_epoch >= 10
    summary = train(task, model, tok, docs, docs[:1], TrainArgs(epochs=1.02, batch_size=1, seed=1), tmp_path / "m")
    assert [h["step"] for h in summary["history"]] == [per_epoch]  # not also per_epoch + 1
