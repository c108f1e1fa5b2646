"""AttnLRP mode vs independent references: exact conservation of CP-LRP (and its failure when any
one rule is left out), the explicit AttnLRP attention equations, forward invariance, restoration,
isolation between models, pruned models, refusals, and layer relevance on a planted model."""

from __future__ import annotations

import pytest
import torch
from tiny_models import VOCAB, TinyTokenizer, tiny_model
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM
from transformers.masking_utils import AttentionMaskInterface
from transformers.modeling_utils import AttentionInterface
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from helpers.lrp import RULES, attention_relevance, lrp_mode
from helpers.pruning import drop_attention
from helpers.tasks import Example, Task

FAMILIES = ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma3_text", "phi3"]
IDS = torch.tensor([[1, 5, 9, 17, 33, 4, 60, 7, 21, 40], [1, 8, 3, 50, 2, 77, 12, 6, 90, 30]])
EXPLAINED = 11  # the vocabulary logit explained at the last position


def bias_free(model: nn.Module) -> nn.Module:
    """Zero every bias (qwen2's q/k/v): biases absorb relevance, so conservation needs none."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    return model


def relevance(model, variant="cp", ids=IDS, **kw):
    """Token relevances (batch, seq) and the explained logits (batch,) from one forward/backward."""
    x = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    with lrp_mode(model, variant, **kw):
        logit = model(inputs_embeds=x).logits[:, -1, EXPLAINED]
        logit.sum().backward()
    return (x * x.grad).sum(-1).detach(), logit.detach()


def input_x_gradient(model, ids=IDS):
    x = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    model(inputs_embeds=x).logits[:, -1, EXPLAINED].sum().backward()
    return (x * x.grad).sum(-1)


def hook_state(model):
    return {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks), "forward" in m.__dict__)
            for name, m in model.named_modules()}


def registries():
    return set(AttentionInterface._global_mapping), set(AttentionMaskInterface._global_mapping)


@pytest.mark.parametrize("arch", FAMILIES)
def test_forward_unchanged_and_cp_conserves_exactly(arch):
    model = bias_free(tiny_model(arch).double())
    with torch.no_grad():
        plain = model(input_ids=IDS).logits
        x = model.get_input_embeddings()(IDS)
        with lrp_mode(model, "attnlrp"):
            inside = model(inputs_embeds=x).logits
    torch.testing.assert_close(inside, plain, rtol=0, atol=1e-12)
    rel, logit = relevance(model, "cp")
    assert logit.abs().min() > 1e-3
    torch.testing.assert_close(rel.sum(-1), logit, rtol=0, atol=1e-10)
    rel, _ = relevance(model, "attnlrp")
    assert torch.isfinite(rel).all()


def test_sdpa_base_keeps_the_mask():
    # without the mask function under the private name the padding mask is lost (and with eager
    # attention the causal one too, which the test above catches)
    model = bias_free(tiny_model("llama", attn_implementation="sdpa").double())
    mask = torch.ones_like(IDS)
    mask[1, :3] = 0  # left padding
    with torch.no_grad():
        plain = model(input_ids=IDS, attention_mask=mask).logits[:, 3:]
        with lrp_mode(model):
            inside = model(input_ids=IDS, attention_mask=mask).logits[:, 3:]
    torch.testing.assert_close(inside, plain, rtol=0, atol=1e-12)
    rel, logit = relevance(model, "cp")
    torch.testing.assert_close(rel.sum(-1), logit, rtol=0, atol=1e-10)


@pytest.mark.parametrize("rule", RULES)
def test_leaving_out_any_rule_breaks_conservation(rule):
    model = tiny_model("llama").double()
    rel, logit = relevance(model, "cp", _disable={rule})
    assert (rel.sum(-1) - logit).abs().max() > 1e-6  # by orders of magnitude more than 1e-8


def one_layer_llama() -> LlamaForCausalLM:
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, head_dim=8,
                         intermediate_size=24, max_position_embeddings=64,
                         tie_word_embeddings=False, attn_implementation="sdpa")
    torch.manual_seed(3)
    model = LlamaForCausalLM(config).eval().double()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:  # norms keep their unit weights
                p.normal_(0, 0.5)
    return model


@pytest.mark.parametrize("variant", ["attnlrp", "cp"])
def test_attention_follows_the_explicit_lrp_equations(variant):
    """Relevance at the attention input, per token, vs the AttnLRP equations written out:
    uniform rule over weights x V (half to each factor), Taylor rule of the softmax
    R_S = S (R_A - A sum R_A), uniform rule over q k^T; CP-LRP: all of R_O to V."""
    model = one_layer_llama()
    layer = model.model.layers[0]
    attn = layer.self_attn
    seen = {}

    def keep_input(_m, out):
        out.retain_grad()
        seen["H"] = out

    def keep_o(_m, args):
        args[0].retain_grad()
        seen["O"] = args[0]

    def keep_rope(_m, _args, kwargs):
        seen["cos_sin"] = kwargs["position_embeddings"]

    ids = IDS[:1]
    x = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    with lrp_mode(model, variant):
        # registered after lrp_mode's own hooks, so they see the tensors the rules produce
        handles = [layer.input_layernorm.register_forward_hook(lambda m, a, o: keep_input(m, o)),
                   attn.o_proj.register_forward_pre_hook(keep_o),
                   attn.register_forward_pre_hook(keep_rope, with_kwargs=True)]
        model(inputs_embeds=x).logits[0, -1, EXPLAINED].backward()
    for h in handles:
        h.remove()
    H = seen["H"].detach()[0]  # (T, hidden)
    T, nh, hd = H.shape[0], 2, 8
    with torch.no_grad():
        q = (H @ attn.q_proj.weight.T).view(T, nh, hd).transpose(0, 1)[None]
        k = (H @ attn.k_proj.weight.T).view(T, nh, hd).transpose(0, 1)[None]
        v = (H @ attn.v_proj.weight.T).view(T, nh, hd).transpose(0, 1)
        q, k = (t[0] for t in apply_rotary_pos_emb(q, k, *seen["cos_sin"]))
        zq = attn.scaling * q[:, :, None, :] * k[:, None, :, :]  # (h, t, i, d) terms of S
        S = zq.sum(-1)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        A = torch.softmax(S.masked_fill(~causal, float("-inf")), dim=-1)
        out = A @ v
        out_seen = seen["O"].detach()[0].view(T, nh, hd).transpose(0, 1)
        torch.testing.assert_close(out, out_seen)
        R_O = (seen["O"].detach() * seen["O"].grad)[0].view(T, nh, hd).transpose(0, 1)
        z = A[:, :, :, None] * v[:, None, :, :]  # (h, t, j, d) terms of O
        R_z = z / out[:, :, None, :] * R_O[:, :, None, :]
        if variant == "cp":
            R_v, R_q, R_k = R_z.sum(1), torch.zeros_like(q), torch.zeros_like(k)
        else:
            R_v = 0.5 * R_z.sum(1)
            R_A = 0.5 * R_z.sum(-1)
            R_S = S * (R_A - A * R_A.sum(-1, keepdim=True))
            R_zq = zq / S[..., None] * R_S[..., None]
            R_q, R_k = 0.5 * R_zq.sum(2), 0.5 * R_zq.sum(1)
        expected = (R_q + R_k + R_v).sum(dim=(0, 2))  # per token
        got = (H * seen["H"].grad[0]).sum(-1)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)
    if variant == "attnlrp":
        assert (R_q + R_k).abs().sum() > 1e-2 * R_v.abs().sum()  # the q/k rule is exercised


def test_exit_restores_everything_and_other_models_are_untouched():
    model, other = tiny_model("llama").double(), tiny_model("llama").double()  # same weights
    before, before_other = input_x_gradient(model), input_x_gradient(other)
    hooks, regs = hook_state(model), registries()
    impls = [m.config._attn_implementation for m in model.modules() if hasattr(m, "config")]
    x = model.get_input_embeddings()(IDS).detach().requires_grad_(True)
    with lrp_mode(model, "attnlrp"):
        assert model.config._attn_implementation != "eager"
        assert other.config._attn_implementation == "eager"
        model(inputs_embeds=x).logits[:, -1, EXPLAINED].sum().backward()
        torch.testing.assert_close(input_x_gradient(other), before_other, rtol=0, atol=0)
    assert not torch.allclose((x * x.grad).sum(-1), before)  # the mode was active
    with pytest.raises(KeyError, match="boom"), lrp_mode(model, "cp"):
        raise KeyError("boom")
    torch.testing.assert_close(input_x_gradient(model), before, rtol=0, atol=0)
    assert hook_state(model) == hooks and registries() == regs
    assert [m.config._attn_implementation for m in model.modules() if hasattr(m, "config")] == impls


def test_two_models_in_the_mode_at_once():
    a, b = tiny_model("llama").double(), bias_free(tiny_model("qwen2", attn_implementation="sdpa").double())
    ref_a, ref_b = relevance(a, "cp"), relevance(b, "attnlrp")
    with lrp_mode(a, "cp"):
        got_b = relevance(b, "attnlrp")  # b enters its own mode while a is in one
        with pytest.raises(ValueError, match="already inside"), lrp_mode(a):
            pass
    for got, ref in ((relevance(a, "cp"), ref_a), (got_b, ref_b)):
        torch.testing.assert_close(got, ref, rtol=0, atol=1e-14)


def test_pruned_model():
    model = drop_attention(tiny_model("llama").double(), [1, 2])
    rel, logit = relevance(model, "cp")
    torch.testing.assert_close(rel.sum(-1), logit, rtol=0, atol=1e-10)
    rel, _ = relevance(model, "attnlrp")
    assert torch.isfinite(rel).all()


@pytest.mark.parametrize("variant", ["attnlrp", "cp"])
def test_right_padded_batch_equals_one_by_one(variant):
    # sliding-window layers: the other mask kind (sdpa: eager gemma3 itself gives NaN on pad
    # queries whose window holds only padding)
    model = tiny_model("gemma3_text", attn_implementation="sdpa").double()
    rows = [[1, 5, 9, 17, 33, 4, 60, 7, 21, 40, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18],
            [1, 8, 3], [1, 50, 2, 77, 12, 6]]
    lengths = torch.tensor([len(r) for r in rows])
    ids = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    mask = (torch.arange(ids.shape[1])[None] < lengths[:, None]).long()
    x = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    with lrp_mode(model, variant):
        logits = model(inputs_embeds=x, attention_mask=mask).logits
        logits[torch.arange(len(rows)), lengths - 1, EXPLAINED].sum().backward()
    batched = (x * x.grad).sum(-1).detach()
    for i, r in enumerate(rows):
        alone, _ = relevance(model, variant, ids=torch.tensor([r]))
        torch.testing.assert_close(batched[i, : len(r)], alone[0], rtol=1e-9, atol=1e-14)
        assert (batched[i, len(r):] == 0).all()


class ScaleNorm(nn.Module):
    """A norm class the rules do not know."""

    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))

    def forward(self, x):
        return self.weight * x / x.abs().mean(-1, keepdim=True)


def test_unsupported_models_raise():
    with pytest.raises(NotImplementedError, match="attn_logit_softcapping"), lrp_mode(tiny_model("gemma2")):
        pass
    model = tiny_model("llama")
    model.model.norm = ScaleNorm(32)
    with pytest.raises(NotImplementedError, match="unknown kind ScaleNorm"), lrp_mode(model):
        pass
    with pytest.raises(NotImplementedError, match="LayerNorm"), lrp_mode(tiny_model("gpt_neox")):
        pass
    moe = AutoModelForCausalLM.from_config(AutoConfig.for_model(
        "mixtral", vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=48, num_local_experts=2))
    with pytest.raises(NotImplementedError, match="mixture-of-experts"), lrp_mode(moe.eval()):
        pass
    with pytest.raises(ValueError, match="eval"), lrp_mode(tiny_model("llama").train()):
        pass
    with pytest.raises(ValueError, match="variant"), lrp_mode(tiny_model("llama"), "deeplift"):
        pass


def test_code_that_bypasses_the_rules_is_caught_at_run_time():
    model = tiny_model("llama")
    hooks = hook_state(model)
    mlp = model.model.layers[1].mlp
    # an inline functional activation: the SiLU module is never called
    mlp.forward = lambda h: mlp.down_proj(nn.functional.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
    with pytest.raises(NotImplementedError, match="activation"), lrp_mode(model):
        model(input_ids=IDS)
    del mlp.forward
    attn = model.model.layers[2].self_attn
    attn.forward = lambda hidden_states, **kw: (attn.o_proj(attn.q_proj(hidden_states)), None)
    with pytest.raises(NotImplementedError, match="AttentionInterface"), lrp_mode(model):
        model(input_ids=IDS)
    del attn.forward
    assert hook_state(model) == hooks
    assert model.config._attn_implementation == "eager"


TASK = Task(name="toy", labels=("negative", "positive"), label_words=(" bad", " good"),
            instruction="Rate each text .", input_name="Text", answer_name="Answer",
            source="hand-written")
TEXTS = ["the film was great", "a long dull plot and weak acting", "fine", "great cast thin story"]


def test_attention_relevance_finds_the_only_live_layer():
    tok = TinyTokenizer()
    model = tiny_model("llama")
    with torch.no_grad():
        for i in (0, 1, 3):
            model.model.layers[i].self_attn.o_proj.weight.zero_()
        model.model.layers[1].self_attn.o_proj.weight.normal_(0, 1e-4)  # alive, but faint
    for source, kw in ((TEXTS, {}), (TASK, {"examples": [Example(t, 0, f"e{i}") for i, t in
                                                         enumerate(TEXTS)], "demos": []})):
        for variant in ("attnlrp", "cp"):
            scores = attention_relevance(model, tok, source, variant=variant, batch_size=3,
                                         progress=False, **kw)
            assert scores[0] == scores[3] == 0.0
            assert scores[2] > 0.9 and 0 < scores[1] < scores[2]
            assert sum(scores) == pytest.approx(1.0)
    drop_attention(model, [2])
    scores = attention_relevance(model, tok, TEXTS, progress=False)
    assert scores[2] == 0.0 and scores[1] == pytest.approx(1.0)
