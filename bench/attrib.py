"""Section 2: the attribution + faithfulness pipeline against a straightforward baseline.

Pipeline: ``helpers.attribution.attribute`` (batched, shared prefix cache) followed by
``helpers.faithfulness.comprehensiveness_sufficiency`` (perturbations scored in batches).

Baseline, one example at a time:

* attribution with Captum's ``LLMGradientAttribution`` and a ``TextTokenInput``:
  ``LayerGradientXActivation`` (input x gradient) or ``LayerIntegratedGradients``. So that both
  explain the same quantity, Captum sees the model through `LabelSetLM`, a thin wrapper whose
  next-token distribution is restricted to the label words (Captum alone would normalise over
  the whole vocabulary), and whose embedding output passes through an identity layer where a
  token id of -1 gives an all-zero embedding (the pipeline's integrated-gradients baseline);
* faithfulness by deleting tokens and running one full forward (no cache, batch 1) per
  perturbation.

Both use the same token frame (shared prefix + the example's tokens + answer suffix), so their
numbers are defined the same and are compared directly (max differences), together with rank
agreement of the token scores. The baseline's faithfulness is computed from the pipeline's
attributions: its cost does not depend on which attributions it is given, and this way any
difference isolates the perturbation scoring.
"""

from __future__ import annotations

import importlib
import inspect
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from helpers.scoring import build_prompt, encode_bodies
from helpers.tasks import get_task, load_task

from .timing import synchronize

METHODS = ("input_x_gradient", "integrated_gradients")


@dataclass(frozen=True)
class AttributionSettings:
    """What the attribution benchmark runs."""

    task: str = "mr"
    n_examples: int = 16
    methods: tuple[str, ...] = METHODS
    batch_size: int = 8
    ig_steps: int = 16
    ig_method: str = "gausslegendre"
    fractions: tuple[float, ...] | None = None  # None: the faithfulness module's default
    shots: int | None = None  # demonstrations per label; None: the prompt's default
    baseline: bool = True
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)


def load_pipeline() -> tuple[Callable, Callable] | str:
    """(attribute, comprehensiveness_sufficiency), or the reason they cannot be imported."""
    try:
        attribution = importlib.import_module("helpers.attribution")
        faithfulness = importlib.import_module("helpers.faithfulness")
    except ImportError as err:
        return f"the attribution/faithfulness modules are not available yet ({err})"
    wanted = ((attribution, "attribute"), (faithfulness, "comprehensiveness_sufficiency"))
    missing = [name for mod, name in wanted if not hasattr(mod, name)]
    if missing:
        return f"missing functions: {', '.join(missing)}"
    return attribution.attribute, faithfulness.comprehensiveness_sufficiency


def default_fractions(faithfulness_fn: Callable) -> tuple[float, ...]:
    """The `fractions` default of the faithfulness function."""
    default = inspect.signature(faithfulness_fn).parameters["fractions"].default
    if default is inspect.Parameter.empty:
        raise ValueError("comprehensiveness_sufficiency has no default fractions")
    return tuple(float(f) for f in default)


# --- the Captum baseline -------------------------------------------------------------------------


class LabelSetLM(nn.Module):
    """A causal LM seen through the label words only, with a hookable embedding output.

    forward(input_ids) returns an object whose ``logits`` (batch, 1, vocab) are the model's
    last-position logits with every non-label token set to -1e9, so a log-softmax over the
    vocabulary is the log-softmax over the label set. Token id -1 embeds as all zeros.
    """

    def __init__(self, model: nn.Module, label_ids: Sequence[int]) -> None:
        super().__init__()
        self.model = model
        self.embedding_output = nn.Identity()
        self.register_buffer("label_ids", torch.tensor(list(label_ids)), persistent=False)

    @property
    def device(self) -> torch.device:
        """The wrapped model's device."""
        return next(self.model.parameters()).device

    def forward(self, input_ids: torch.Tensor, **_: Any) -> SimpleNamespace:
        """Label-restricted last-position logits of `input_ids`."""
        keep = input_ids >= 0
        embeds = self.model.get_input_embeddings()(input_ids.clamp_min(0))
        embeds = self.embedding_output(embeds * keep[..., None].to(embeds.dtype))
        logits = self.model(inputs_embeds=embeds, use_cache=False, logits_to_keep=1).logits
        restricted = torch.full_like(logits, -1e9)
        idx = self.label_ids.to(logits.device)
        restricted[..., idx] = logits[..., idx]
        return SimpleNamespace(logits=restricted.float())


def _token_input_class():
    from captum.attr import TextTokenInput

    class FramedTokenInput(TextTokenInput):
        """Captum's TextTokenInput built from token ids, with only `features` as features.

        The ids are given rather than re-tokenised from text, so the baseline sees exactly the
        pipeline's token frame; the attributes are those TextTokenInput's own constructor sets.
        """

        def __init__(self, ids: Sequence[int], features: slice, tokenizer, baseline_id: int):
            inp = torch.tensor([list(ids)], dtype=torch.long)
            mask = torch.zeros_like(inp, dtype=torch.bool)
            mask[0, features] = True
            self.inp_tensor = inp
            self.itp_mask = mask
            self.itp_tensor = inp[mask].unsqueeze(0)
            self.skip_tokens = None
            self.values = list(tokenizer.convert_ids_to_tokens(self.itp_tensor[0].tolist()))
            self.tokenizer = tokenizer
            self.n_itp_features = len(self.values)
            self.baselines = baseline_id

    return FramedTokenInput


def captum_attributions(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    task_name: str,
    examples: Sequence,
    *,
    method: str,
    n_steps: int = 16,
    ig_method: str = "gausslegendre",
    shots: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """Per example (one at a time): body-token scores, target label and its probability."""
    from captum.attr import (
        LayerGradientXActivation,
        LayerIntegratedGradients,
        LLMGradientAttribution,
    )

    task = get_task(task_name)
    prompt = build_prompt(tokenizer, task, seed=seed, **({} if shots is None else {"shots": shots}))
    bodies = encode_bodies(tokenizer, task, examples)
    wrapped = LabelSetLM(model, prompt.label_ids)
    if method == "input_x_gradient":
        layer_method = LayerGradientXActivation(wrapped, wrapped.embedding_output)
        kwargs: dict[str, Any] = {}
    elif method == "integrated_gradients":
        layer_method = LayerIntegratedGradients(wrapped, wrapped.embedding_output)
        kwargs = {"n_steps": n_steps, "method": ig_method}
    else:
        raise ValueError(f"no Captum baseline for method {method!r}")
    llm_attr = LLMGradientAttribution(layer_method, tokenizer)
    token_input = _token_input_class()
    device = wrapped.device
    out = []
    for body in bodies:
        ids = list(prompt.prefix_ids) + list(body) + list(prompt.suffix_ids)
        start = len(prompt.prefix_ids)
        with torch.no_grad():
            logits = wrapped(torch.tensor([ids], device=device)).logits[0, -1]
        label_logits = logits[list(prompt.label_ids)].double()
        logp = torch.log_softmax(label_logits, dim=-1)
        target = int(logp.argmax())
        inp = token_input(ids, slice(start, start + len(body)), tokenizer, baseline_id=-1)
        result = llm_attr.attribute(
            inp, target=torch.tensor([prompt.label_ids[target]]), **kwargs
        )
        scores = result.token_attr[0].detach().double().cpu().numpy()
        out.append({"scores": scores, "target": target, "prob": float(logp[target].exp())})
    return out


# --- the straightforward faithfulness baseline ---------------------------------------------------


def n_top(n_tokens: int, fraction: float) -> int:
    """How many top tokens a fraction selects: ceil(fraction * n) (product rounded to 9
    decimals, so 0.1 * 30 is 3), at least 1 and at most n — the faithfulness module's rule."""
    return int(min(n_tokens, max(1, math.ceil(round(fraction * n_tokens, 9)))))


@torch.no_grad()
def faithfulness_one_by_one(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    task_name: str,
    examples: Sequence,
    scores: Sequence[np.ndarray],
    targets: Sequence[int],
    *,
    fractions: Sequence[float],
    shots: int | None = None,
    seed: int = 0,
    n_top_fn: Callable[[int, float], int] = n_top,
) -> list[dict]:
    """Comprehensiveness and sufficiency per example and fraction, one forward per perturbation.

    Removal deletes tokens of the example's own text; the prompt frame stays intact. Ties in the
    scores are broken by position (stable sort, earlier first).
    """
    task = get_task(task_name)
    prompt = build_prompt(tokenizer, task, seed=seed, **({} if shots is None else {"shots": shots}))
    bodies = encode_bodies(tokenizer, task, examples)
    device = next(model.parameters()).device
    label_ids = list(prompt.label_ids)

    def prob(body: Sequence[int], target: int) -> float:
        ids = list(prompt.prefix_ids) + list(body) + list(prompt.suffix_ids)
        logits = model(
            input_ids=torch.tensor([ids], device=device), use_cache=False, logits_to_keep=1
        ).logits[0, -1, label_ids]
        return float(torch.softmax(logits.double(), dim=-1)[target])

    out = []
    for body, s, target in zip(bodies, scores, targets, strict=True):
        order = np.argsort(-np.asarray(s, dtype=np.float64), kind="stable")
        full = prob(body, target)
        comp, suff = [], []
        for f in fractions:
            top = set(order[: n_top_fn(len(body), f)].tolist())
            removed = [t for i, t in enumerate(body) if i not in top]
            kept = [t for i, t in enumerate(body) if i in top]
            comp.append(full - prob(removed, target))
            suff.append(full - prob(kept, target))
        out.append({"full": full, "comprehensiveness": comp, "sufficiency": suff})
    return out


# --- comparing ----------------------------------------------------------------------------------


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def compare_scores(pipeline: Sequence[np.ndarray], baseline: Sequence[np.ndarray]) -> dict:
    """Max absolute/relative differences and rank agreement of two lists of token scores."""
    diffs, rels, rhos, top1 = [], [], [], []
    for a, b in zip(pipeline, baseline, strict=True):
        a, b = np.asarray(a, float), np.asarray(b, float)
        if a.shape != b.shape:
            raise ValueError(f"score shapes differ: {a.shape} vs {b.shape}")
        d = float(np.abs(a - b).max())
        diffs.append(d)
        rels.append(d / max(float(np.abs(b).max()), 1e-12))
        rho = _spearman(a, b)
        if rho is not None:
            rhos.append(rho)
        top1.append(int(np.argmax(a)) == int(np.argmax(b)))
    return {
        "max_abs_diff": max(diffs),
        "max_rel_diff": max(rels),
        "spearman_mean": float(np.mean(rhos)) if rhos else None,
        "spearman_min": float(np.min(rhos)) if rhos else None,
        "top1_agreement": float(np.mean(top1)),
    }


# --- adapters to the pipeline's return values ---------------------------------------------------


def _faithfulness_arrays(result: Any, n: int, n_fractions: int) -> dict[str, np.ndarray]:
    """(n, n_fractions) arrays of comprehensiveness and sufficiency from the module's result."""
    out = {}
    for key in ("comprehensiveness", "sufficiency"):
        if isinstance(result, dict):
            value = result[key]
        elif hasattr(result, key):
            value = getattr(result, key)
        elif isinstance(result, Sequence) and len(result) == n:  # one record per example
            value = [_record(r, key) for r in result]
        else:
            raise TypeError(f"cannot read {key} from {type(result).__name__}")
        arr = np.asarray(value, dtype=np.float64)
        if arr.shape != (n, n_fractions):
            raise ValueError(f"{key}: expected shape {(n, n_fractions)}, got {arr.shape}")
        out[key] = arr
    return out


def _record(r: Any, key: str) -> Any:
    return r[key] if isinstance(r, dict) else getattr(r, key)


# --- the section ---------------------------------------------------------------------------------


def _timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    synchronize(device)
    start = time.perf_counter()
    value = fn()
    synchronize(device)
    return value, time.perf_counter() - start


def bench_attribution(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, s: AttributionSettings
) -> dict:
    """Time pipeline and baseline per method on the same examples, and compare their numbers."""
    pipeline = load_pipeline()
    if isinstance(pipeline, str):
        return {"status": "skipped", "reason": pipeline}
    attribute, faithfulness = pipeline
    fractions = tuple(s.fractions) if s.fractions is not None else default_fractions(faithfulness)
    device = next(model.parameters()).device
    task = get_task(s.task)
    examples = load_task(s.task, n=s.n_examples, seed=s.seed)
    # Tokens one step of one example runs through the model: the pipeline's rows hold body +
    # suffix (the prefix comes from a cache), the baseline's the whole prompt. With equal cost
    # per token their ratio bounds the attribution speed-up.
    shots = {} if s.shots is None else {"shots": s.shots}
    prompt = build_prompt(tokenizer, task, seed=s.seed, **shots)
    body_tokens = float(np.mean([len(b) for b in encode_bodies(tokenizer, task, examples)]))
    pipeline_tokens = body_tokens + len(prompt.suffix_ids)
    baseline_tokens = pipeline_tokens + len(prompt.prefix_ids)
    out: dict[str, Any] = {
        "status": "ok",
        "task": s.task,
        "n_examples": len(examples),
        "tokens_per_row": {
            "prefix": len(prompt.prefix_ids),
            "body_mean": body_tokens,
            "suffix": len(prompt.suffix_ids),
            "pipeline": pipeline_tokens,
            "baseline": baseline_tokens,
            "ratio": baseline_tokens / pipeline_tokens,
        },
        "fractions": list(fractions),
        "batch_size": s.batch_size,
        "ig_steps": s.ig_steps,
        "ig_method": s.ig_method,
        "shots": s.shots,
        "methods": {},
    }
    for method in s.methods:
        options = dict(s.options)
        if method == "integrated_gradients":
            options.update(n_steps=s.ig_steps, ig_method=s.ig_method)

        def run_attribute(exs, method=method, options=options, shots=shots):
            return attribute(
                model, tokenizer, task, exs, method=method, batch_size=s.batch_size,
                **shots, progress=False, **options,
            )

        def run_faithfulness(exs, attrs, shots=shots):
            return faithfulness(
                model, tokenizer, task, exs, attrs, fractions=fractions, **shots,
                progress=False,
            )

        # warm-up on one example (first calls allocate and compile kernels)
        run_faithfulness(examples[:1], run_attribute(examples[:1]))
        attrs, t_attr = _timed(lambda run_attribute=run_attribute: run_attribute(examples), device)
        faith, t_faith = _timed(lambda attrs=attrs: run_faithfulness(examples, attrs), device)
        model.zero_grad(set_to_none=True)
        row: dict[str, Any] = {
            "pipeline": {
                "attribution_s": t_attr,
                "faithfulness_s": t_faith,
                "total_s": t_attr + t_faith,
                "examples_per_s": len(examples) / (t_attr + t_faith),
            }
        }
        pipe = _faithfulness_arrays(faith, len(examples), len(fractions))
        row["pipeline"]["aopc_comprehensiveness"] = float(pipe["comprehensiveness"].mean())
        row["pipeline"]["aopc_sufficiency"] = float(pipe["sufficiency"].mean())
        if s.baseline:
            captum_attributions(
                model, tokenizer, s.task, examples[:1], method=method, n_steps=s.ig_steps,
                ig_method=s.ig_method, shots=s.shots, seed=s.seed,
            )  # warm-up
            base, tb_attr = _timed(
                lambda method=method: captum_attributions(
                    model, tokenizer, s.task, examples, method=method, n_steps=s.ig_steps,
                    ig_method=s.ig_method, shots=s.shots, seed=s.seed,
                ),
                device,
            )
            base_faith, tb_faith = _timed(
                lambda attrs=attrs: faithfulness_one_by_one(
                    model, tokenizer, s.task, examples, [a.scores for a in attrs],
                    [a.target for a in attrs], fractions=fractions, shots=s.shots, seed=s.seed,
                ),
                device,
            )
            model.zero_grad(set_to_none=True)
            total = tb_attr + tb_faith
            row["baseline"] = {
                "attribution_s": tb_attr,
                "faithfulness_s": tb_faith,
                "total_s": total,
                "examples_per_s": len(examples) / total,
            }
            row["speedup"] = total / row["pipeline"]["total_s"]
            row["speedup_attribution"] = tb_attr / t_attr
            row["speedup_faithfulness"] = tb_faith / t_faith
            agreement = compare_scores([a.scores for a in attrs], [b["scores"] for b in base])
            agreement["same_target"] = float(
                np.mean([a.target == b["target"] for a, b in zip(attrs, base, strict=True)])
            )
            agreement["max_prob_diff"] = float(
                max(abs(a.prob - b["prob"]) for a, b in zip(attrs, base, strict=True))
            )
            for key in ("comprehensiveness", "sufficiency"):
                ref = np.asarray([b[key] for b in base_faith])
                agreement[f"max_{key}_diff"] = float(np.abs(pipe[key] - ref).max())
            row["agreement"] = agreement
        out["methods"][method] = row
    return out
