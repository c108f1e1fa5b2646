"""Token attributions vs independent references: a planted one-token model, plain autograd, IG
completeness, batching invariance, and attention read from a kept layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import TinyTokenizer, tiny_model
from transformers import LlamaConfig, LlamaForCausalLM

from helpers.attribution import METHODS, Attribution, attribute, kept_layer, other_label_scores
from helpers.pruning import drop_attention
from helpers.scoring import body_logits, build_prompt, encode_bodies, softmax
from helpers.tasks import Example, Task

TASK = Task(
    name="toy",
    labels=("negative", "positive"),
    label_words=(" bad", " good"),
    instruction="Rate each text .",
    input_name="Text",
    answer_name="Answer",
    source="hand-written",
)
TEXTS = ["the film was great", "a long dull plot and weak acting overall", "fine",
         "great cast but a thin story that drags"]
EXAMPLES = [Example(t, i % 2, f"e{i}") for i, t in enumerate(TEXTS)]
PLANT = " great"
FAST = {"integrated_gradients": {"n_steps": 8}}


def run(model, tok, method, examples=EXAMPLES, **kw):
    """`attribute` on the toy task without demonstrations."""
    kw = {**FAST.get(method, {}), **kw}
    return attribute(model, tok, TASK, examples, method=method, demos=[], progress=False, **kw)


def planted_model(tok: TinyTokenizer) -> LlamaForCausalLM:
    """A one-layer llama whose answer depends only on whether the token ' great' is present.

    The key of ' great' is so large that the answer position attends only to it (the others get
    weight exactly 0 in float32), and only ' great' has a non-zero value: its presence adds a
    fixed vector to the answer position, its absence adds nothing, whatever else the text holds.
    The norms' epsilon dwarfs the embeddings, which makes them nearly linear, so that
    input x gradient is not blinded by RMSNorm's scale invariance.
    """
    hidden = 16
    config = LlamaConfig(vocab_size=96, hidden_size=hidden, num_hidden_layers=1,
                         num_attention_heads=1, num_key_value_heads=1, head_dim=hidden,
                         intermediate_size=8, rms_norm_eps=1e4, max_position_embeddings=128,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config).eval()
    model.set_attn_implementation("eager")
    great = tok(PLANT, add_special_tokens=False)["input_ids"][0]
    bad, good = (tok(w, add_special_tokens=False)["input_ids"][0] for w in TASK.label_words)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for norm in (model.model.layers[0].input_layernorm, model.model.norm):
            norm.weight.fill_(1.0)
        emb = model.model.embed_tokens.weight
        emb[:, 2:] = torch.randn(emb.shape[0], hidden - 2, generator=g)
        emb[:, 1] = 1.0  # every token: a constant feature the query reads
        emb[great, 0] = 1.0  # only ' great': the feature keys and values read
        attn = model.model.layers[0].self_attn
        # dimension 7 rotates slowest under RoPE (pairs i, i + 8), so scores barely depend on position
        attn.q_proj.weight[7, 1] = 1e4
        attn.k_proj.weight[7, 0] = 1e4
        attn.v_proj.weight[0, 0] = 100.0
        attn.o_proj.weight[0, 0] = 1.0
        model.lm_head.weight[good, 0] = 400.0
        model.lm_head.weight[bad, 1] = 100.0
    return model


def reference_log_probs(model, tok, body: list[int], body_embeds: torch.Tensor | None = None):
    """Label-set log-probabilities from one whole-prompt forward: no cache, no padding, no batch."""
    prompt = build_prompt(tok, TASK, demos=[])
    ids = torch.tensor(list(prompt.prefix_ids) + body + list(prompt.suffix_ids))
    embeds = model.get_input_embeddings()(ids).detach()
    if body_embeds is not None:
        start = len(prompt.prefix_ids)
        embeds = torch.cat([embeds[:start], body_embeds, embeds[start + len(body):]])
    logits = model(inputs_embeds=embeds[None]).logits[0, -1, list(prompt.label_ids)]
    return torch.log_softmax(logits, dim=-1)


def autograd_reference(model, tok, example, n_steps=8):
    """Gradient, input x gradient and Gauss-Legendre IG with plain torch.autograd (no Captum)."""
    (body,) = encode_bodies(tok, TASK, [example])
    prompt = build_prompt(tok, TASK, demos=[])
    start = len(prompt.prefix_ids)
    ids = torch.tensor(list(prompt.prefix_ids) + body + list(prompt.suffix_ids))
    x = model.get_input_embeddings()(ids).detach()[start : start + len(body)]

    def grad_at(point: torch.Tensor, target: int | None):
        point = point.clone().requires_grad_(True)
        logp = reference_log_probs(model, tok, body, point)
        target = int(logp.argmax()) if target is None else target
        (g,) = torch.autograd.grad(logp[target], point)
        return g, target

    g, target = grad_at(x, None)
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    total = torch.zeros_like(x)
    for node, w in zip(nodes, weights, strict=True):
        total += 0.5 * float(w) * grad_at(0.5 * (1 + float(node)) * x, target)[0]
    return {
        "target": target,
        "gradient": g.norm(dim=-1).numpy(),
        "input_x_gradient": (x * g).sum(-1).numpy(),
        "integrated_gradients": (x * total).sum(-1).numpy(),
    }


@pytest.fixture(scope="module")
def tiny():
    return tiny_model("llama"), TinyTokenizer()


def test_planted_token_ranks_first_for_every_real_method():
    tok = TinyTokenizer()
    model = planted_model(tok)
    for method in [m for m in METHODS if m != "random"]:
        attrs = run(model, tok, method)
        for a, ex in zip(attrs, EXAMPLES, strict=True):
            assert a.tokens == [tok.convert_ids_to_tokens(i) for i in a.token_ids]
            if PLANT.strip() in ex.text.split():
                others = np.delete(a.scores, a.tokens.index(PLANT))
                assert a.target == 1, method  # ' good'
                assert a.scores[a.tokens.index(PLANT)] > 1e-4, method
                np.testing.assert_allclose(others, 0, atol=1e-6, err_msg=method)
            else:
                assert a.target == 0, method
                if method not in ("gradient", "attention"):
                    # without ' great' nothing moves the score; saliency (a sensitivity) and
                    # attention (uniform here) need not vanish
                    np.testing.assert_allclose(a.scores, 0, atol=1e-6, err_msg=method)


def test_gradient_methods_match_plain_autograd(tiny):
    model, tok = tiny
    examples = EXAMPLES[:3]  # lengths 4, 8, 1: padding in the batch
    refs = [autograd_reference(model, tok, ex, n_steps=4) for ex in examples]
    for method in ("gradient", "input_x_gradient", "integrated_gradients"):
        options = {"n_steps": 4} if method == "integrated_gradients" else {}
        attrs = run(model, tok, method, examples=examples, batch_size=3, **options)
        for a, ref in zip(attrs, refs, strict=True):
            assert a.target == ref["target"]
            scale = np.abs(ref[method]).max()
            np.testing.assert_allclose(a.scores, ref[method], atol=1e-4 * scale, err_msg=method)


def test_integrated_gradients_completeness_improves_with_steps(tiny):
    model, tok = tiny
    bodies = encode_bodies(tok, TASK, EXAMPLES)
    errors = []
    for n_steps in (1, 4, 16):
        attrs = run(model, tok, "integrated_gradients", n_steps=n_steps)
        err = []
        for a, body in zip(attrs, bodies, strict=True):
            with torch.no_grad():
                f_x = reference_log_probs(model, tok, body)[a.target]
                zero = torch.zeros(len(body), model.config.hidden_size)
                f_0 = reference_log_probs(model, tok, body, zero)[a.target]
            gap = float(f_x - f_0)
            err.append(abs(a.scores.sum() - gap))
            assert a.details["delta"] == pytest.approx(a.scores.sum() - gap, abs=1e-4)
        errors.append(max(err))
    assert errors[2] < 1e-3 and errors[2] < errors[1] < errors[0], errors


@pytest.mark.parametrize("method", METHODS)
def test_batched_equals_one_by_one(tiny, method):
    model, tok = tiny
    together = run(model, tok, method, batch_size=3)
    alone = [run(model, tok, method, examples=[ex], batch_size=1)[0] for ex in EXAMPLES]
    for a, b in zip(together, alone, strict=True):
        assert (a.target, a.token_ids, a.uid) == (b.target, b.token_ids, b.uid)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4 * max(1, np.abs(b.scores).max()))
        assert a.prob == pytest.approx(b.prob, abs=1e-5)


def test_integrated_gradients_do_not_depend_on_how_steps_are_grouped(tiny):
    # internal_batch_size 2: one example per Captum call, its 4 steps split over two forwards;
    # 64: every example's steps in one forward, padded to the longest body
    model, tok = tiny
    split = run(model, tok, "integrated_gradients", n_steps=4, batch_size=3, internal_batch_size=2)
    whole = run(model, tok, "integrated_gradients", n_steps=4, batch_size=3, internal_batch_size=64)
    for a, b in zip(split, whole, strict=True):
        assert (a.target, a.uid) == (b.target, b.uid)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5 * max(1, np.abs(b.scores).max()))
        assert a.details["delta"] == pytest.approx(b.details["delta"], abs=1e-5)


def test_occlusion_is_leave_one_out(tiny):
    model, tok = tiny
    (body,) = encode_bodies(tok, TASK, EXAMPLES[:1])
    (a,) = run(model, tok, "occlusion", examples=EXAMPLES[:1])
    with torch.no_grad():
        full = reference_log_probs(model, tok, body)
        drops = [float(full[a.target] - reference_log_probs(model, tok, body[:i] + body[i + 1:])[a.target])
                 for i in range(len(body))]
    np.testing.assert_allclose(a.scores, drops, atol=1e-5)
    assert a.prob == pytest.approx(float(full.exp()[a.target]), abs=1e-5)


def test_attention_reads_the_deepest_kept_layer():
    tok = TinyTokenizer()
    model = drop_attention(tiny_model("llama", attn_implementation="sdpa"), [3])
    assert kept_layer(model) == 2 and kept_layer(model, 1) == 1
    attrs = run(model, tok, "attention")
    assert model.config._attn_implementation == "sdpa"  # restored
    prompt = build_prompt(tok, TASK, demos=[])
    start = len(prompt.prefix_ids)
    model.set_attn_implementation("eager")
    for a in attrs:
        assert a.layer == 2
        ids = torch.tensor([list(prompt.prefix_ids) + a.token_ids + list(prompt.suffix_ids)])
        with torch.no_grad():
            weights = model(input_ids=ids, output_attentions=True).attentions[2][0]
        ref = weights[:, -1, start : start + len(a.token_ids)].mean(0).numpy()
        np.testing.assert_allclose(a.scores, ref, atol=1e-6)
    drop_attention(model, [0, 1, 2])
    with pytest.raises(ValueError, match="dropped"):
        kept_layer(model)


def test_random_is_seeded_per_example(tiny):
    model, tok = tiny
    a = run(model, tok, "random")
    b = run(model, tok, "random", examples=EXAMPLES[::-1])[::-1]
    c = run(model, tok, "random", random_seed=1)
    for x, y, z in zip(a, b, c, strict=True):
        np.testing.assert_array_equal(x.scores, y.scores)
        assert not np.array_equal(x.scores, z.scores)
    # each example draws its own stream, not the same prefix of one shared stream
    assert not np.array_equal(a[0].scores[:1], a[1].scores[:1])


def test_errors(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="gradient, input_x_gradient"):
        run(model, tok, "shap")
    with pytest.raises(TypeError, match="n_steps"):
        run(model, tok, "gradient", n_steps=4)
    with pytest.raises(ValueError, match="one score"):
        Attribution(["a"], [1, 2], np.zeros(2), 0, "random")


def test_gradients_work_under_inference_mode(tiny):
    model, tok = tiny
    expected = run(model, tok, "input_x_gradient")
    with torch.inference_mode():
        got = run(model, tok, "input_x_gradient")
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("arch", ["gemma3_text", "qwen2"])
def test_embedding_path_matches_token_path(arch):
    # the gradient methods feed embeddings (Gemma scales them inside its embedding layer)
    model, tok = tiny_model(arch), TinyTokenizer()
    prompt = build_prompt(tok, TASK, demos=[])
    probs = softmax(body_logits(model, tok, prompt, encode_bodies(tok, TASK, EXAMPLES)))
    for method in ("input_x_gradient", "integrated_gradients", "attention"):
        for a, p in zip(run(model, tok, method), probs, strict=True):
            assert a.target == int(p.argmax()) and a.prob == pytest.approx(p.max(), abs=1e-5)


@pytest.mark.parametrize("method", ["lrp", "lrp_cp"])
def test_lrp_matches_a_whole_prompt_reference(tiny, method):
    # cached prefix, padding and batching change nothing: the reference runs each prompt whole
    # inside lrp_mode and explains z_target - mean of the other label logits, written out here
    from helpers.lrp import lrp_mode

    model, tok = tiny
    examples = EXAMPLES[:3]
    attrs = run(model, tok, method, examples=examples, batch_size=3)
    prompt = build_prompt(tok, TASK, demos=[])
    start = len(prompt.prefix_ids)
    for a in attrs:
        ids = torch.tensor(list(prompt.prefix_ids) + a.token_ids + list(prompt.suffix_ids))
        x = model.get_input_embeddings()(ids).detach().requires_grad_(True)
        with lrp_mode(model, "attnlrp" if method == "lrp" else "cp"):
            z = model(inputs_embeds=x[None]).logits[0, -1, list(prompt.label_ids)]
            target = int(z.argmax())
            others = torch.cat([z[:target], z[target + 1:]])
            explained = z[target] - others.mean()
            explained.backward()
        ref = (x * x.grad).sum(-1)[start : start + len(a.token_ids)].detach().numpy()
        assert a.target == target and a.method == method
        np.testing.assert_allclose(a.scores, ref, atol=1e-5 * np.abs(ref).max())
        assert a.details["explained"] == pytest.approx(float(explained.detach()), abs=1e-5)
        assert a.prob == pytest.approx(float(torch.softmax(z.detach(), -1)[target]), abs=1e-5)


def test_lrp_explains_fixed_targets(tiny):
    model, tok = tiny
    own = run(model, tok, "lrp_cp")
    flipped = run(model, tok, "lrp_cp", targets=[1 - a.target for a in own])
    for a, b in zip(own, flipped, strict=True):
        assert b.target == 1 - a.target
        # two labels: log-odds of the other label is the negative, and LRP is linear in it
        np.testing.assert_allclose(b.scores, -a.scores, atol=1e-6 * np.abs(a.scores).max())
        assert b.details["explained"] == pytest.approx(-a.details["explained"], abs=1e-6)


@pytest.mark.parametrize("method", ["lrp", "lrp_cp", "input_x_gradient"])
def test_other_label_scores_equal_attributing_that_label_again(method):
    model, tok = tiny_model("llama"), TinyTokenizer()
    own = run(model, tok, method)
    again = run(model, tok, method, targets=[1 - a.target for a in own])
    for a, b in zip(own, again, strict=True):
        other = other_label_scores(method, len(TASK.labels), a.scores)
        if method.startswith("lrp"):
            np.testing.assert_allclose(other, b.scores, rtol=1e-5, atol=1e-6)
        else:
            assert other is None  # log-probabilities: no sign rule, attributed again
    assert other_label_scores("lrp", 3, own[0].scores) is None
