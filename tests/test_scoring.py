"""Batched, prefix-cached label scoring vs an independent full-prompt forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import TinyTokenizer, tiny_model

from helpers.scoring import accuracy, build_prompt, encode_bodies, label_probs, softmax
from helpers.tasks import Example, Task

TASK = Task(
    name="toy",
    labels=("negative", "positive"),
    label_words=(" negative", " positive"),
    instruction="Say if each review is positive or negative .",
    input_name="Review",
    answer_name="Sentiment",
    source="hand-written",
)
DEMOS = [Example("a dull slow film", 0, "d0"), Example("a bright warm film", 1, "d1")]
TEXTS = ["great", "bad acting and a bad plot", "it was fine I guess but long", "wonderful cast",
         "I left early", "a film", "the best film of the year by far for me"]
EXAMPLES = [Example(t, i % 2, f"e{i}") for i, t in enumerate(TEXTS)]


def reference_probs(model, tok, task, examples, demos):
    """One example at a time, the whole prompt in one forward, no cache, no padding."""
    prompt = build_prompt(tok, task, demos=demos)
    out = []
    for body in encode_bodies(tok, task, examples):
        ids = torch.tensor([list(prompt.prefix_ids) + body + list(prompt.suffix_ids)])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, -1]
        out.append(torch.softmax(logits[list(prompt.label_ids)].double(), -1).numpy())
    return np.array(out)


def probs(model, tok, batch_size, task=TASK, examples=EXAMPLES, demos=DEMOS):
    import helpers.scoring as scoring

    prompt = build_prompt(tok, task, demos=demos)
    bodies = encode_bodies(tok, task, examples)
    return softmax(scoring.body_logits(model, tok, prompt, bodies, batch_size=batch_size))


@pytest.mark.parametrize("arch", ["llama", "gemma3_text", "gpt2", "opt", "falcon"])
def test_batched_prefix_cached_scores_match_full_forward(arch):
    model, tok = tiny_model(arch), TinyTokenizer()
    ref = reference_probs(model, tok, TASK, EXAMPLES, DEMOS)
    for bs in (1, 3, 16):
        np.testing.assert_allclose(probs(model, tok, bs), ref, atol=1e-5)


def test_prefix_longer_than_sliding_window():
    # gemma3_text tiny model has a 16-token window; demos push the prefix well past it
    model, tok = tiny_model("gemma3_text"), TinyTokenizer()
    demos = DEMOS * 4
    assert len(build_prompt(tok, TASK, demos=demos).prefix_ids) > 40
    np.testing.assert_allclose(probs(model, tok, 4, demos=demos),
                               reference_probs(model, tok, TASK, EXAMPLES, demos), atol=1e-5)


def test_label_words_with_colliding_first_tokens_are_refused():
    class FirstWord(TinyTokenizer):
        def _pieces(self, text):
            return [text[:4]] if text.strip() else []

    clash = Task("clash", ("a", "b"), (" posit", " posix"), "x", "In", "Out", "test")
    with pytest.raises(ValueError, match="share first tokens"):
        build_prompt(FirstWord(), clash, demos=[])


def test_accuracy_and_validation():
    p = np.array([[0.7, 0.3], [0.5, 0.5], [0.1, 0.9]])
    assert accuracy(p, [0, 0, 0]) == pytest.approx(2 / 3)  # tie -> lowest index
    with pytest.raises(ValueError):
        accuracy(p, [0, 1])


@pytest.fixture(scope="module")
def smollm2():
    from helpers.models import load_model

    return load_model("smollm2-135m", device="cpu")


def test_real_model_batched_equals_one_by_one(smollm2):
    from helpers.tasks import get_task, load_task

    model, tok = smollm2
    task, examples = get_task("mr"), load_task("mr", n=6, seed=1)
    batched = label_probs(model, tok, task, examples, batch_size=6)
    single = label_probs(model, tok, task, examples, batch_size=1)
    np.testing.assert_allclose(batched, single, atol=1e-4)
    np.testing.assert_allclose(batched.sum(1), 1, atol=1e-6)
    from helpers.tasks import demonstrations

    demos = demonstrations("mr", 1, seed=0)
    np.testing.assert_allclose(batched, reference_probs(model, tok, task, examples, demos), atol=1e-4)


@pytest.mark.parametrize("arch", ["llama", "gemma3_text"])
def test_label_word_mass_matches_the_full_vocabulary_softmax(arch):
    """The mass the whole next-token distribution puts on the label words, against one full
    forward per example (softmax over every token of the vocabulary, then the label words')."""
    import helpers.scoring as scoring

    model, tok = tiny_model(arch), TinyTokenizer()
    prompt = build_prompt(tok, TASK, demos=DEMOS)
    expected = []
    for body in encode_bodies(tok, TASK, EXAMPLES):
        ids = torch.tensor([list(prompt.prefix_ids) + body + list(prompt.suffix_ids)])
        with torch.no_grad():
            full = torch.softmax(model(input_ids=ids).logits[0, -1].double(), -1)
        expected.append(float(full[list(prompt.label_ids)].sum()))
    logits, log_mass = scoring.body_logits(model, tok, prompt, encode_bodies(tok, TASK, EXAMPLES),
                                           batch_size=3, with_mass=True)
    np.testing.assert_allclose(np.exp(log_mass), expected, rtol=1e-4)
    assert 0 < min(expected) and max(expected) < 1  # a tiny random model spreads its mass
    np.testing.assert_allclose(softmax(logits), probs(model, tok, 3), atol=1e-6)
