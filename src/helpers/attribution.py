"""Token attributions for prompted classification: which of an example's own tokens drove the label.

What is explained: the log-probability of the label the model predicts on the full input,
normalised over the label set, ``log_softmax(frame_logits)[target]`` with ``target`` the argmax of
the label-set logits (ties: lowest index). Every forward goes through `scoring.frame_forward`, so an
attribution sees the same prompt (prefix + body + suffix, prefix from a shared KV cache) as the
classifier. Only the body (the example's own tokens) is attributed: the prefix comes from the
cache and never receives gradients, and the suffix embeddings are held constant.

Methods (`METHODS`), all ours to choose since the paper's are not public:

- ``gradient``: saliency (Captum's `Saliency`, signed), the L2 norm over the hidden dimension of
  d score / d embedding.
- ``input_x_gradient``: Captum's `InputXGradient`, embedding * gradient summed over the hidden
  dimension.
- ``integrated_gradients``: Captum's `IntegratedGradients` on the input embeddings (the output of
  the embedding layer, Gemma's scaling included) with an all-zero embedding baseline for the body
  (suffix and prefix unchanged), summed over the hidden dimension. Options: ``n_steps`` (16),
  ``ig_method`` (Captum's ``"gausslegendre"``) and ``internal_batch_size`` (rows per forward and
  backward; default 4 * batch_size). ``details["delta"]`` holds the completeness error
  (Captum's convergence delta), sum(attributions) - (f(input) - f(baseline)), which shrinks as
  n_steps grows.
- ``occlusion``: leave-one-out, the drop in the explained score when one body token is deleted
  (deletion, not masking: a decoder has no mask token); positive = the token supported the label.
- ``attention``: the attention weights from the answer position (the last prompt token, whose
  next-token logits are read) to each body token, averaged over heads, from the deepest layer at
  or below option ``layer`` (default -1, the last) whose attention is not dropped (`kept_layer`);
  the layer used is recorded in `Attribution.layer`. Raw weights, not renormalised over the body.
  Eager attention is switched on for the call (sdpa returns no weights) and then restored.
- ``random``: uniform [0, 1) scores seeded by option ``random_seed`` (0) and the example's uid, so
  an example gets the same scores whatever the batch; the control every method must beat.
- ``lrp`` and ``lrp_cp``: AttnLRP and CP-LRP (`lrp.lrp_mode`), embedding * modified gradient
  summed over the hidden dimension. LRP explains a linear readout, not a log-probability, so
  these explain the same label (the predicted one, or `targets`) through `lrp.label_log_odds`:
  the target's label-word logit minus the mean of the other label words' logits, i.e.
  log(p_target / p_other) for two labels. Not the bare target logit, which also credits tokens
  that raise every label word alike and so move no label-set probability; not the label-set
  log-probability, whose gradient explains z_target - sum_j p_j z_j, a readout that shrinks as
  p_target -> 1. Positive = supports the target over the other labels. ``details["explained"]``
  holds the explained value; the body's relevances sum to less than it, since the suffix, the
  cached prefix (whose keys and values are constants here, so relevance reaching the prefix is
  not computed) and the biases take the rest.

Batching: examples are taken shortest first, so a batch pads little. Gradient, input x
gradient and the LRP methods run `batch_size` examples per forward and backward. Integrated gradients takes
`batch_size` examples per chunk (one forward for their targets, one at the baseline for the
completeness error) and hands Captum as many of them at a time as fit their steps into one
forward of `internal_batch_size` rows, each such group padded only to its own longest body.
Occlusion runs the full bodies, keeping their key/value states, then scores every deletion of
every example through one `scoring.body_logits` call, each from its deleted token on (the tokens
before it are the body's: `helpers.stems`), which halves its tokens. Rows
are right-padded, which keeps batched and one-by-one results equal; padding and suffix
positions get exactly zero gradient and are not reported.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .lrp import label_log_odds, lrp_mode
from .progress import progress as progress_bar
from .pruning import attention_module, decoder_layers, is_dropped
from .scoring import (
    Prompt,
    body_logits,
    build_prompt,
    encode_bodies,
    frame_forward,
    pad_id,
    prefix_cache,
    rows_to_batch,
)
from .stems import STATES_MAX_BYTES, BodyStates, from_cache
from .tasks import DEFAULT_SHOTS, Example, Task

METHODS: tuple[str, ...] = (
    "gradient",
    "input_x_gradient",
    "integrated_gradients",
    "occlusion",
    "attention",
    "random",
    "lrp",
    "lrp_cp",
)
LRP_VARIANTS = {"lrp": "attnlrp", "lrp_cp": "cp"}  # method -> `lrp.lrp_mode` variant
GRADIENT_METHODS = ("gradient", "input_x_gradient", "integrated_gradients")
_OPTIONS: dict[str, frozenset[str]] = {
    "gradient": frozenset(),
    "input_x_gradient": frozenset(),
    "integrated_gradients": frozenset({"n_steps", "ig_method", "internal_batch_size"}),
    "occlusion": frozenset(),
    "attention": frozenset({"layer"}),
    "random": frozenset({"random_seed"}),
    "lrp": frozenset(),
    "lrp_cp": frozenset(),
}


@dataclass
class Attribution:
    """One example's token scores for the label the model predicted on the full input."""

    tokens: list[str]
    token_ids: list[int]
    scores: np.ndarray
    target: int
    method: str
    prob: float = float("nan")  # label-set probability of `target` on the full input
    uid: str = ""
    layer: int | None = None  # the attention layer read by method "attention"
    details: dict[str, Any] = field(default_factory=dict)
    # the body's key/value states from the forward that attributed it (`keep_states`)
    states: BodyStates | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if self.scores.shape != (len(self.token_ids),) or len(self.tokens) != len(self.token_ids):
            raise ValueError(
                f"need one score and one token per token id; got {self.scores.shape} scores, "
                f"{len(self.tokens)} tokens and {len(self.token_ids)} ids"
            )


def attribute(
    model,
    tokenizer,
    task: Task,
    examples: Sequence[Example],
    *,
    method: str,
    shots: int = DEFAULT_SHOTS,
    seed: int = 0,
    demos: Sequence[Example] | None = None,
    batch_size: int = 8,
    progress: bool = True,
    targets: Sequence[int] | None = None,
    keep_states: bool = False,
    **options: Any,
) -> list[Attribution]:
    """Attribute each example's predicted label to its own tokens with `method` (see module doc).

    The prompt frame is `scoring.build_prompt(tokenizer, task, shots=, seed=, demos=)`, as for
    classification. `batch_size` is examples per forward (occlusion and random: rows per forward);
    `targets` fixes the explained label of each example (e.g. another model's prediction, so that
    two models' attributions explain the same label) instead of the model's own prediction;
    `options` are the method's own (module doc); unknown ones raise TypeError. With
    `keep_states`, every method that runs the full input (all but integrated gradients and
    random) keeps each body's key/value states from that forward (`Attribution.states`, for
    `faithfulness` to start perturbed inputs after them), up to `stems.STATES_MAX_BYTES` in all.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown attribution method {method!r}. Known: {', '.join(METHODS)}")
    unknown = set(options) - _OPTIONS[method]
    if unknown:
        allowed = ", ".join(sorted(_OPTIONS[method])) or "none"
        raise TypeError(f"method {method!r} got unknown options {sorted(unknown)}; allowed: {allowed}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    prompt = build_prompt(tokenizer, task, shots=shots, seed=seed, demos=demos)
    bodies = encode_bodies(tokenizer, task, examples)
    if any(len(b) == 0 for b in bodies):
        raise ValueError("every example needs at least one body token")
    if targets is not None:
        targets = [int(t) for t in targets]
        if len(targets) != len(bodies) or not all(0 <= t < len(task.labels) for t in targets):
            raise ValueError(f"targets must hold one label index in 0..{len(task.labels) - 1} "
                             f"per example ({len(bodies)}), got {len(targets)}")
    run = {
        "occlusion": _occlusion,
        "random": _random,
        "attention": _attention,
    }.get(method, _gradients)
    if run in (_gradients, _occlusion, _attention):
        options["kept"] = _Kept(keep_states)
    results = run(
        model, tokenizer, prompt, bodies, examples, method=method, batch_size=batch_size,
        progress=progress, targets=targets, **options,
    )
    out = []
    for ex, body, (scores, target, prob, extra) in zip(examples, bodies, results, strict=True):
        out.append(
            Attribution(
                tokens=list(tokenizer.convert_ids_to_tokens(body)),
                token_ids=list(body),
                scores=scores,
                target=int(target),
                method=method,
                prob=float(prob),
                uid=ex.uid,
                layer=extra.pop("layer", None),
                states=extra.pop("states", None),
                details=extra,
            )
        )
    return out


# --- shared pieces -----------------------------------------------------------------------------

# (scores, target, probability of target, extra details) for one example
_Result = tuple[np.ndarray, int, float, dict[str, Any]]


def other_label_scores(method: str, n_labels: int, scores: np.ndarray) -> np.ndarray | None:
    """The scores explaining the other label, where they follow from the target's without a
    second pass: LRP with two labels explains a log-odds that only changes sign, and its rules
    are linear in the explained output. None for every other case (attribute that label again)."""
    if method in LRP_VARIANTS and n_labels == 2:
        return -np.asarray(scores, dtype=float)
    return None


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _chunks(n: int, size: int, enabled: bool, desc: str) -> Iterator[range]:
    for s in progress_bar(range(0, n, size), desc=desc, enabled=enabled, min_items=2):
        yield range(s, min(s + size, n))


def _targets(logp: torch.Tensor, fixed: Sequence[int] | None) -> torch.Tensor:
    # the row's own prediction, or the label the caller fixed
    if fixed is None:
        return logp.argmax(dim=-1)
    return torch.tensor(list(fixed), device=logp.device, dtype=torch.long)


def _log_probs(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@dataclass
class _Batch:
    """Right-padded rows of body + suffix, their embeddings, and where the bodies are."""

    ids: torch.Tensor
    lengths: torch.Tensor
    body_lengths: list[int]
    embeds: torch.Tensor  # (batch, width, hidden), constant
    body_mask: torch.Tensor  # (batch, width) True on body tokens


def _batch(model, tokenizer, prompt: Prompt, bodies: Sequence[Sequence[int]]) -> _Batch:
    device = _device(model)
    rows = [list(b) + list(prompt.suffix_ids) for b in bodies]
    ids, lengths = rows_to_batch(rows, pad_id(tokenizer), device)
    body_lengths = [len(b) for b in bodies]
    blen = torch.tensor(body_lengths, device=device)
    body_mask = torch.arange(ids.shape[1], device=device)[None, :] < blen[:, None]
    with torch.no_grad():
        embeds = model.get_input_embeddings()(ids)
    return _Batch(ids, lengths, body_lengths, embeds, body_mask)


def _frame_log_probs(model, prompt, kv, body_embeds, const, body_mask, lengths,
                     seen: dict | None = None) -> torch.Tensor:
    # The body positions take `body_embeds` (the only path gradients can flow through); suffix
    # and padding positions keep their constant embeddings. `seen` receives the forward's cache.
    embeds = torch.where(body_mask[..., None], body_embeds, const)
    logits, _, cache = frame_forward(model, prompt, kv, inputs_embeds=embeds, lengths=lengths)
    if seen is not None:
        seen["cache"] = cache
    return torch.log_softmax(logits, dim=-1)


class _Kept:
    """The body states one `attribute` call keeps: none unless asked, at most STATES_MAX_BYTES."""

    def __init__(self, keep: bool) -> None:
        self.room = STATES_MAX_BYTES if keep else 0

    def admit(self, found: Sequence[BodyStates | None]) -> list[BodyStates | None]:
        """All of `found` while there is room (one batch may overrun it), else none."""
        if self.room <= 0:
            return [None] * len(found)
        self.room -= sum(s.nbytes for s in found if s is not None)
        return list(found)

    def take(self, cache, prompt: Prompt, body_lengths: Sequence[int]) -> list[BodyStates | None]:
        found = from_cache(cache, len(prompt.prefix_ids), body_lengths) if self.room > 0 else None
        return self.admit(found if found is not None else [None] * len(body_lengths))


# --- gradient, input x gradient, integrated gradients -------------------------------------------


def _gradients(model, tokenizer, prompt, bodies, examples, *, method, batch_size, progress,
               targets=None, n_steps: int = 16, ig_method: str = "gausslegendre",
               internal_batch_size: int | None = None, kept: _Kept | None = None) -> list[_Result]:
    if method == "integrated_gradients" and n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    rows = internal_batch_size or 4 * batch_size
    if rows < 1:
        raise ValueError(f"internal_batch_size must be >= 1, got {internal_batch_size}")
    # Shortest bodies first: a batch is padded to its longest row, so similar lengths together
    # waste the least compute. Results go back to the caller's order.
    order = sorted(range(len(bodies)), key=lambda i: len(bodies[i]))
    out: list[_Result | None] = [None] * len(bodies)
    rules = lrp_mode(model, LRP_VARIANTS[method]) if method in LRP_VARIANTS else nullcontext()
    # gradients also when the caller runs under no_grad or inference_mode
    with torch.inference_mode(False), torch.enable_grad(), rules:
        kv = prefix_cache(model, prompt)
        kept = kept or _Kept(False)
        for chunk in _chunks(len(order), batch_size, progress, method):
            idx = [order[k] for k in chunk]
            fixed = None if targets is None else [targets[i] for i in idx]
            if method == "integrated_gradients":
                results = _integrated_gradients(
                    model, tokenizer, prompt, kv, [bodies[i] for i in idx], n_steps, ig_method,
                    rows, fixed,
                )
            else:
                b = _batch(model, tokenizer, prompt, [bodies[i] for i in idx])
                if method in LRP_VARIANTS:
                    results = _lrp(model, prompt, kv, b, fixed, kept)
                else:
                    results = _plain_gradient(model, prompt, kv, b, method, fixed, kept)
            for i, result in zip(idx, results, strict=True):
                out[i] = result
    return out  # type: ignore[return-value]


def _plain_gradient(model, prompt, kv, b: _Batch, method: str, fixed=None,
                    kept: _Kept | None = None) -> list[_Result]:
    from captum.attr import InputXGradient, Saliency

    # Captum explains a scalar per row: the log-probability of the label the row predicts. Rows
    # are independent, so one forward and one backward give every row's own gradient.
    seen: dict[str, torch.Tensor] = {}

    def explained(body_embeds, const, body_mask, lengths):
        logp = _frame_log_probs(model, prompt, kv, body_embeds, const, body_mask, lengths, seen)
        seen["target"] = _targets(logp.detach(), fixed)
        chosen = logp.gather(1, seen["target"][:, None]).squeeze(1)
        seen["prob"] = chosen.detach().exp()
        return chosen

    x = b.embeds.detach().clone().requires_grad_(True)
    args = (b.embeds, b.body_mask, b.lengths)
    if method == "gradient":
        grad = Saliency(explained).attribute(x, abs=False, additional_forward_args=args)
        scores = grad.norm(dim=-1)
    else:
        scores = InputXGradient(explained).attribute(x, additional_forward_args=args).sum(dim=-1)
    scores = scores.detach().double().cpu().numpy()
    targets = seen["target"].cpu().numpy()
    probs = seen["prob"].double().cpu().numpy()
    states = (kept or _Kept(False)).take(seen["cache"], prompt, b.body_lengths)
    return [
        (scores[j, :n], int(targets[j]), float(probs[j]), {"states": states[j]})
        for j, n in enumerate(b.body_lengths)
    ]


def _lrp(model, prompt, kv, b: _Batch, fixed=None, kept: _Kept | None = None) -> list[_Result]:
    # inside lrp_mode: one forward and one backward for the batch (rows are independent)
    x = b.embeds.detach().clone().requires_grad_(True)
    embeds = torch.where(b.body_mask[..., None], x, b.embeds)
    logits, _, cache = frame_forward(model, prompt, kv, inputs_embeds=embeds, lengths=b.lengths)
    states = (kept or _Kept(False)).take(cache, prompt, b.body_lengths)
    targets = _targets(logits.detach(), fixed)
    explained = label_log_odds(logits, targets)
    (grad,) = torch.autograd.grad(explained.sum(), x)
    explained = explained.detach().double().cpu().numpy()
    wide = torch.promote_types(x.dtype, torch.float32)
    scores = (x.detach().to(wide) * grad.to(wide)).sum(dim=-1).double().cpu().numpy()
    probs = torch.softmax(logits.detach().double(), dim=-1).gather(1, targets[:, None])
    return [
        (scores[j, :n], int(targets[j]), float(probs[j]),
         {"explained": float(explained[j]), "states": states[j]})
        for j, n in enumerate(b.body_lengths)
    ]


def _integrated_gradients(model, tokenizer, prompt, kv, bodies, n_steps, ig_method,
                          rows, fixed=None) -> list[_Result]:
    from captum.attr import IntegratedGradients

    def forward(body_embeds, const, body_mask, lengths):
        return _frame_log_probs(model, prompt, kv, body_embeds, const, body_mask, lengths)

    b = _batch(model, tokenizer, prompt, bodies)
    with torch.no_grad():
        logp = forward(b.embeds, b.embeds, b.body_mask, b.lengths)
        logp_zero = forward(torch.zeros_like(b.embeds), b.embeds, b.body_mask, b.lengths)
    targets = _targets(logp, fixed)
    gap = (logp - logp_zero).gather(1, targets[:, None]).squeeze(1)
    probs = logp.gather(1, targets[:, None]).exp().squeeze(1)
    # Each Captum call takes as many examples as fit their steps into one forward of `rows`
    # rows, padded only to its own longest body (bodies come sorted by length).
    per_call = max(1, rows // n_steps)
    out: list[_Result] = []
    for s in range(0, len(bodies), per_call):
        g = _batch(model, tokenizer, prompt, bodies[s : s + per_call])
        t = targets[s : s + per_call]
        # Captum repeats tensor forward args once per step along dim 0, in the same order as
        # the scaled inputs, so each interpolated row keeps its own suffix, mask and length.
        attributions = IntegratedGradients(forward).attribute(
            g.embeds,
            baselines=torch.zeros_like(g.embeds),
            target=t.tolist(),
            additional_forward_args=(g.embeds, g.body_mask, g.lengths),
            n_steps=n_steps,
            method=ig_method,
            internal_batch_size=max(rows, len(t)),
        )
        scores = attributions.detach().sum(dim=-1).double()
        # Captum's completeness error, from the two forwards above instead of two more
        delta = scores.sum(dim=1) - gap[s : s + per_call].double()
        for j, n in enumerate(g.body_lengths):
            out.append(
                (
                    scores[j, :n].cpu().numpy(),
                    int(t[j]),
                    float(probs[s + j]),
                    {"n_steps": n_steps, "baseline": "zero embedding", "delta": float(delta[j])},
                )
            )
    return out


# --- occlusion, random -------------------------------------------------------------------------


def _occlusion(model, tokenizer, prompt, bodies, examples, *, method, batch_size,
               progress, targets=None, kept: _Kept | None = None) -> list[_Result]:
    # the full bodies first, keeping their states; then every leave-one-out body of every
    # example in one batched call, each from its deleted token on (`helpers.stems`)
    full, states = _full_bodies(model, tokenizer, prompt, bodies, batch_size, _Kept(True))
    rows: list[list[int]] = []
    stems = []
    for b, st in zip(bodies, states, strict=True):
        rows.extend(list(b[:i]) + list(b[i + 1 :]) for i in range(len(b)))
        stems.extend([None if st is None else (b, st)] * len(b))
    logp = _log_probs(np.concatenate([full, body_logits(
        model, tokenizer, prompt, rows, batch_size=batch_size, progress=progress,
        desc="occlusion", stems=stems)]))
    out: list[_Result] = []
    start = len(bodies)
    given = kept or _Kept(False)
    for i, b in enumerate(bodies):
        target = int(logp[i].argmax()) if targets is None else targets[i]
        deleted = logp[start : start + len(b), target]
        start += len(b)
        extra = {"states": given.admit([states[i]])[0]}
        out.append((logp[i, target] - deleted, target, float(np.exp(logp[i, target])), extra))
    return out


@torch.no_grad()
def _full_bodies(model, tokenizer, prompt, bodies, batch_size: int,
                 kept: _Kept) -> tuple[np.ndarray, list[BodyStates | None]]:
    # label-set logits of the full bodies, shortest first, and (within `kept`) their states
    order = sorted(range(len(bodies)), key=lambda i: len(bodies[i]))
    kv = prefix_cache(model, prompt)
    logits = np.zeros((len(bodies), len(prompt.label_ids)), dtype=np.float32)
    states: list[BodyStates | None] = [None] * len(bodies)
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        b = _batch(model, tokenizer, prompt, [bodies[i] for i in idx])
        labels, _, cache = frame_forward(model, prompt, kv, input_ids=b.ids, lengths=b.lengths)
        logits[idx] = labels.cpu().numpy()
        for i, st in zip(idx, kept.take(cache, prompt, b.body_lengths), strict=True):
            states[i] = st
    return logits, states


def _random(model, tokenizer, prompt, bodies, examples, *, method, batch_size, progress,
            targets=None, random_seed: int = 0) -> list[_Result]:
    logp = _log_probs(
        body_logits(model, tokenizer, prompt, bodies, batch_size=batch_size, progress=progress)
    )
    out: list[_Result] = []
    for i, (ex, b, lp) in enumerate(zip(examples, bodies, logp, strict=True)):
        rng = np.random.default_rng([random_seed, zlib.crc32(ex.uid.encode("utf-8"))])
        target = int(lp.argmax()) if targets is None else targets[i]
        out.append((rng.random(len(b)), target, float(np.exp(lp[target])), {}))
    return out


# --- attention ---------------------------------------------------------------------------------


def kept_layer(model, layer: int = -1) -> int:
    """The deepest layer at or below `layer` (negative counts from the end) whose attention is kept."""
    layers = decoder_layers(model)
    n = len(layers)
    if not -n <= layer < n:
        raise IndexError(f"layer {layer} is out of range for a model with {n} layers")
    for i in range(layer % n, -1, -1):
        if not is_dropped(attention_module(layers[i])):
            return i
    raise ValueError(f"every attention layer at or below {layer % n} is dropped")


def _attention(model, tokenizer, prompt, bodies, examples, *, method, batch_size, progress,
               targets=None, layer: int = -1, kept: _Kept | None = None) -> list[_Result]:
    used = kept_layer(model, layer)
    module = attention_module(decoder_layers(model)[used])
    kv = prefix_cache(model, prompt)
    captured: list[torch.Tensor] = []

    def keep_weights(_module, _args, output):
        captured.append(output[1])

    previous = model.config._attn_implementation
    handle = module.register_forward_hook(keep_weights)
    out: list[_Result] = []
    try:
        if previous != "eager":
            # only eager attention materialises the weights
            model.set_attn_implementation("eager")
        for chunk in _chunks(len(bodies), batch_size, progress, method):
            b = _batch(model, tokenizer, prompt, [bodies[i] for i in chunk])
            captured.clear()
            with torch.no_grad():
                labels, _, cache = frame_forward(model, prompt, kv, input_ids=b.ids,
                                                 lengths=b.lengths)
                logp = torch.log_softmax(labels, dim=-1)
            states = (kept or _Kept(False)).take(cache, prompt, b.body_lengths)
            weights = captured[-1]
            if weights is None:
                raise RuntimeError(f"layer {used} returned no attention weights")
            # keys: the cached prefix (possibly cut by a sliding window) then this chunk's rows
            first = weights.shape[-1] - b.ids.shape[1]
            chosen = _targets(logp, None if targets is None else [targets[i] for i in chunk])
            for j, n in enumerate(b.body_lengths):
                row = weights[j, :, int(b.lengths[j]) - 1, first : first + n].mean(dim=0)
                t = int(chosen[j])
                out.append((row.double().cpu().numpy(), t, float(logp[j, t].exp()),
                            {"layer": used, "states": states[j]}))
    finally:
        handle.remove()
        if model.config._attn_implementation != previous:
            model.set_attn_implementation(previous)
    return out
