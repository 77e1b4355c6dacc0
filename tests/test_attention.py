"""Fused (SDPA) attention for megatron-bert gives the eager layers' results, and steps aside when
attention weights are asked for."""
from __future__ import annotations

import pytest
import torch

from clinlm.runtime.attention import fuse_attention
from clinlm.tasks.ner.pipeline import NerPipeline


@pytest.fixture()
def megatron_tagger(tiny_megatron):
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    return AutoModelForTokenClassification.from_pretrained(tiny_megatron, num_labels=5).eval()


def _batch():
    torch.manual_seed(1)
    ids = torch.randint(5, 100, (3, 20))
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0  # padded rows: the mask has to reach the fused kernel
    mask[2, 5:] = 0
    return ids, mask


def test_fused_megatron_attention_matches_eager_with_padding(megatron_tagger):
    ids, mask = _batch()
    with torch.inference_mode():
        eager = megatron_tagger(input_ids=ids, attention_mask=mask).logits
        assert fuse_attention(megatron_tagger) == 2  # both layers
        assert fuse_attention(megatron_tagger) == 0  # a second call changes nothing
        fused = megatron_tagger(input_ids=ids, attention_mask=mask).logits
    real = mask.bool()
    torch.testing.assert_close(fused[real], eager[real], atol=1e-5, rtol=1e-4)
    # and the mask matters: without it the padded rows' real tokens would change
    with torch.inference_mode():
        unmasked = megatron_tagger(input_ids=ids).logits
    assert not torch.allclose(unmasked[2, :5], fused[2, :5], atol=1e-3)


def test_attention_weights_asked_for_use_the_eager_layers(megatron_tagger):
    ids, mask = _batch()
    with torch.inference_mode():
        before = megatron_tagger(input_ids=ids, attention_mask=mask, output_attentions=True).attentions
        fuse_attention(megatron_tagger)
        after = megatron_tagger(input_ids=ids, attention_mask=mask, output_attentions=True).attentions
    assert len(after) == 2 and all(a is not None for a in after)
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b)


def test_fused_attention_trains_with_dropout(megatron_tagger):
    ids, mask = _batch()
    fuse_attention(megatron_tagger)
    megatron_tagger.train()
    loss = megatron_tagger(input_ids=ids, attention_mask=mask, labels=torch.zeros_like(ids)).loss
    loss.backward()
    q = megatron_tagger.bert.encoder.layer[0].attention.self.query.weight
    assert q.grad is not None and q.grad.abs().sum() > 0


def test_bert_is_left_alone(tiny_bert):
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=3)
    assert fuse_attention(model) == 0  # BERT has transformers' own SDPA path


def test_pipeline_runs_megatron_checkpoints_fused(tiny_megatron, tmp_path):
    from clinlm.tasks.ner.task import NerTask

    task = NerTask(max_length=16, stride=6)
    model, tok = task.build(str(tiny_megatron), [], labels=["O", "B-T033", "I-T033"])
    task.save(model, tok, tmp_path, {})
    pipe = NerPipeline.from_pretrained(tmp_path, context=False, engine="transformers")  # "auto": the lean encoder
    layers = [m for m in pipe.model.modules() if type(m).__name__ == "MegatronBertSelfAttention"]
    assert len(layers) == 2 and all(hasattr(m, "_clinlm_eager_forward") for m in layers)
    assert pipe("the patient denies chest pain").text  # and it annotates


def test_zero_shot_scorer_runs_megatron_fused(tiny_megatron):
    from clinlm.tasks.mc.scoring import load_scorer

    scorer = load_scorer(str(tiny_megatron), scoring="pll", device="cpu")
    layers = [m for m in scorer.model.modules() if type(m).__name__ == "MegatronBertSelfAttention"]
    assert len(layers) == 2 and all(hasattr(m, "_clinlm_eager_forward") for m in layers)
