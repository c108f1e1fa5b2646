"""Faithfulness of token attributions: ERASER comprehensiveness and sufficiency, AOPC, agreement.

Definitions (DeYoung et al. 2020), with choices that are ours (the paper's are not public):

- p is the label-set-normalised probability (softmax of `scoring.frame_logits`) and y the label
  predicted on the full input, which is each attribution's `target` (`attribute` sets it to the
  full-input argmax). comprehensiveness(k) = p(y|x) - p(y|x without its top-k tokens) (higher is
  more faithful); sufficiency(k) = p(y|x) - p(y|only its top-k tokens) (lower is more faithful);
  AOPC = their mean over the fractions. log_odds(k) = log p(y|x without its top-k tokens) -
  log p(y|x), the deletion form of the log-odds of Shrikumar et al. (lower is more faithful; the
  usual report is k = 20%).
- Normalised forms (Carton, Rathore and Tan 2020, "Evaluating and characterizing human
  rationales"): divided by what the full input allows, d = max(0, p(y|x) - p(y|empty body)).
  norm_comprehensiveness(k) = max(0, comprehensiveness(k)) / d and norm_sufficiency(k) =
  (d - max(0, sufficiency(k))) / d, both HIGHER = more faithful, clipped to [0, 1] (our choice),
  and NaN where d < `NORM_MIN_GAP` (the text moves the label's probability by less than that
  over the empty frame: nothing to explain). A model that only became less confident shrinks d
  with the raw scores, so the normalised forms move much less than the raw ones.
- Perturbation is deletion from the example's own tokens (the body): a decoder has no mask
  token. The instruction, the demonstrations and the answer suffix stay intact, and "only its
  top-k tokens" keeps them in their original order. Deleting every token leaves the prompt frame
  with an empty body.
- k = max(1, ceil(fraction * n_tokens)): at least one token is removed (or kept) at every
  fraction, so short texts share k across small fractions. The product is rounded to 9 decimals
  before the ceiling so that e.g. 0.14 * 50 (7.000000000000001 in floating point) gives 7.
- Ranking: attribution score descending, ties broken by position (earlier first), so rankings
  are deterministic (a constant attribution ranks left to right). Scores are signed: a token
  that argues against the label ranks last.
- Speed: p(y|x) can come from the forward that made each attribution (`recorded_full`), and
  the full bodies (otherwise) and every perturbed body (every example x fraction x {without, only},
  and every method when several are evaluated together) are deduplicated and scored through one
  batched `scoring.body_logits` call; with `recorded_full`, a perturbed body runs from its first
  deleted token, after the body states the attribution kept (`helpers.stems`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from .attribution import Attribution
from .scoring import body_logits, build_prompt, encode_bodies, softmax
from .tasks import DEFAULT_SHOTS, Example, Task

DEFAULT_FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20, 0.50)
METRICS = ("comprehensiveness", "sufficiency", "log_odds")
AOPC_METRICS = ("aopc_comprehensiveness", "aopc_sufficiency")
NORM_METRICS = ("norm_comprehensiveness", "norm_sufficiency")
NORM_MIN_GAP = 0.01
_PROB_TOLERANCE = 1e-3


def n_top(n_tokens: int, fraction: float) -> int:
    """How many tokens a fraction selects: max(1, ceil(fraction * n_tokens)), at most n_tokens."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fractions must be in (0, 1], got {fraction}")
    if n_tokens < 1:
        raise ValueError("an attribution needs at least one token")
    return min(n_tokens, max(1, math.ceil(round(fraction * n_tokens, 9))))


def top_k(scores: Sequence[float] | np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores, best first; ties go to the earlier position."""
    s = np.asarray(scores, dtype=np.float64)
    if np.isnan(s).any():
        raise ValueError("attribution scores contain NaN")
    # lexsort sorts by its last key first: score descending, then position ascending
    return np.lexsort((np.arange(len(s)), -s))[:k]


@dataclass
class Faithfulness:
    """Per-example probabilities under top-k deletion for one attribution method."""

    method: str
    fractions: tuple[float, ...]
    uids: list[str]
    n_tokens: np.ndarray  # (n,)
    k: np.ndarray  # (n, n_fractions) tokens removed / kept
    target: np.ndarray  # (n,) the explained (full-input predicted) label
    p_full: np.ndarray  # (n,) p(y | x)
    p_without: np.ndarray  # (n, n_fractions) p(y | x without its top-k tokens)
    p_only: np.ndarray  # (n, n_fractions) p(y | only its top-k tokens)
    p_empty: np.ndarray  # (n,) p(y | the prompt frame with an empty body)

    @property
    def comprehensiveness(self) -> np.ndarray:
        """p(y|x) - p(y|x without top-k), shape (n, n_fractions); higher is more faithful."""
        return self.p_full[:, None] - self.p_without

    @property
    def sufficiency(self) -> np.ndarray:
        """p(y|x) - p(y|only top-k), shape (n, n_fractions); lower is more faithful."""
        return self.p_full[:, None] - self.p_only

    @property
    def log_odds(self) -> np.ndarray:
        """log p(y|x without top-k) - log p(y|x), shape (n, n_fractions); lower is more faithful."""
        return np.log(self.p_without) - np.log(self.p_full)[:, None]

    @property
    def _gap(self) -> np.ndarray:
        d = np.maximum(0.0, self.p_full - self.p_empty)
        return np.where(d < NORM_MIN_GAP, np.nan, d)[:, None]

    @property
    def norm_comprehensiveness(self) -> np.ndarray:
        """Comprehensiveness over what the full input allows (Carton et al.); higher is better."""
        return np.clip(np.maximum(0.0, self.comprehensiveness) / self._gap, 0.0, 1.0)

    @property
    def norm_sufficiency(self) -> np.ndarray:
        """Normalised sufficiency (Carton et al.), in [0, 1]; HIGHER is more faithful."""
        gap = self._gap
        return np.clip((gap - np.maximum(0.0, self.sufficiency)) / gap, 0.0, 1.0)

    @property
    def aopc_norm_comprehensiveness(self) -> np.ndarray:
        """Normalised comprehensiveness averaged over the fractions (NaN where undefined)."""
        return self.norm_comprehensiveness.mean(axis=1)

    @property
    def aopc_norm_sufficiency(self) -> np.ndarray:
        """Normalised sufficiency averaged over the fractions (NaN where undefined)."""
        return self.norm_sufficiency.mean(axis=1)

    @property
    def aopc_comprehensiveness(self) -> np.ndarray:
        """Comprehensiveness averaged over the fractions, per example."""
        return self.comprehensiveness.mean(axis=1)

    @property
    def aopc_sufficiency(self) -> np.ndarray:
        """Sufficiency averaged over the fractions, per example."""
        return self.sufficiency.mean(axis=1)

    def to_frame(self) -> pd.DataFrame:
        """Tidy per-example table: uid, method, metric, fraction (NaN for AOPC), value."""
        parts = []
        n = len(self.uids)
        for metric in METRICS + NORM_METRICS:
            values = getattr(self, metric)
            for j, f in enumerate(self.fractions):
                parts.append(pd.DataFrame({"uid": self.uids, "method": self.method,
                                           "metric": metric, "fraction": f,
                                           "value": values[:, j]}))
        for metric in AOPC_METRICS + tuple(f"aopc_{m}" for m in NORM_METRICS):
            parts.append(pd.DataFrame({"uid": self.uids, "method": self.method, "metric": metric,
                                       "fraction": np.full(n, np.nan),
                                       "value": getattr(self, metric)}))
        return pd.concat(parts, ignore_index=True)


def comprehensiveness_sufficiency(
    model,
    tokenizer,
    task: Task,
    examples: Sequence[Example],
    attributions: Sequence[Attribution],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    shots: int = DEFAULT_SHOTS,
    seed: int = 0,
    demos: Sequence[Example] | None = None,
    batch_size: int = 16,
    progress: bool = True,
    recorded_full: bool = False,
    share: bool = False,
) -> Faithfulness:
    """Comprehensiveness, sufficiency and AOPC of one method's attributions (see module doc;
    `recorded_full` and `share` as in `faithfulness_by_method`)."""
    methods = {a.method for a in attributions} or {"attribution"}
    name = next(iter(methods)) if len(methods) == 1 else "mixed"
    return faithfulness_by_method(
        model, tokenizer, task, examples, {name: attributions}, fractions=fractions, shots=shots,
        seed=seed, demos=demos, batch_size=batch_size, progress=progress,
        recorded_full=recorded_full, share=share,
    )[name]


def faithfulness_by_method(
    model,
    tokenizer,
    task: Task,
    examples: Sequence[Example],
    attributions: Mapping[str, Sequence[Attribution]],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    shots: int = DEFAULT_SHOTS,
    seed: int = 0,
    demos: Sequence[Example] | None = None,
    batch_size: int = 16,
    progress: bool = True,
    recorded_full: bool = False,
    share: bool = False,
) -> dict[str, Faithfulness]:
    """`comprehensiveness_sufficiency` for several methods at once, sharing one scoring call.

    With `recorded_full`, p(y|x) is the probability each attribution recorded in the forward
    that computed it (where it has one) instead of a second scoring of the full input, and a
    perturbed input starts after the body states that forward kept (`Attribution.states`,
    `helpers.stems`): only for attributions made with this very model and prompt, since the
    check for stale ones is off.
    `share` keeps the perturbed inputs' hidden states for pruned variants of the model
    (`depth_reuse`; the perturbations that coincide with theirs start above the shared layers).
    """
    fractions = tuple(float(f) for f in fractions)
    if not fractions:
        raise ValueError("need at least one fraction")
    prompt = build_prompt(tokenizer, task, shots=shots, seed=seed, demos=demos)
    bodies = encode_bodies(tokenizer, task, examples)
    rows: dict[tuple[int, ...], int] = {}
    sources: list[int | None] = []  # per row, the example whose body it was cut from

    def row(tokens: Iterable[int], source: int | None = None) -> int:
        key = tuple(tokens)
        if key not in rows:
            rows[key] = len(rows)
            sources.append(source)
        return rows[key]

    for name, attrs in attributions.items():
        _check_alignment(name, attrs, bodies)
    # p(y|x) per method: recorded by the attribution's forward, or NaN where it is to be scored
    p_full = {name: np.array([a.prob if recorded_full else np.nan for a in attrs], dtype=float)
              for name, attrs in attributions.items()}
    full = {i: row(b, i) for i, b in enumerate(bodies)
            if any(not np.isfinite(p[i]) for p in p_full.values())}
    empty = row(())
    plans = {}
    for name, attrs in attributions.items():
        ks = np.array([[n_top(len(b), f) for f in fractions] for b in bodies], dtype=int)
        without = np.zeros(ks.shape, dtype=int)
        only = np.zeros(ks.shape, dtype=int)
        for i, (a, b) in enumerate(zip(attrs, bodies, strict=True)):
            order = top_k(a.scores, len(b))
            for j, k in enumerate(ks[i]):
                chosen = set(order[:k].tolist())
                without[i, j] = row((t for p, t in enumerate(b) if p not in chosen), i)
                only[i, j] = row((t for p, t in enumerate(b) if p in chosen), i)
        plans[name] = (attrs, ks, without, only)

    stems = None
    if recorded_full:  # the attributions' own forwards: their body states are this model's
        states = [next((a[i].states for a in attributions.values() if a[i].states is not None),
                       None) for i in range(len(bodies))]
        stems = [None if i is None or states[i] is None else (bodies[i], states[i])
                 for i in sources]
    probs = softmax(
        body_logits(model, tokenizer, prompt, list(rows), batch_size=batch_size,
                    progress=progress, desc="faithfulness", share=share, stems=stems)
    )
    out = {}
    for name, (attrs, ks, without, only) in plans.items():
        target = np.array([a.target for a in attrs], dtype=int)
        p = p_full[name]
        for i, r in full.items():
            if not np.isfinite(p[i]):
                p[i] = probs[r, target[i]]
        stale = [a.uid or str(i) for i, a in enumerate(attrs)
                 if not recorded_full and np.isfinite(a.prob)
                 and abs(a.prob - p[i]) > _PROB_TOLERANCE]
        if stale:
            warnings.warn(
                f"{name}: the full-input probability differs from the one recorded at attribution "
                f"time for {len(stale)} example(s) (e.g. {stale[:3]}): the attributions were "
                "probably computed with another model or prompt.",
                stacklevel=3,
            )
        out[name] = Faithfulness(
            method=name,
            fractions=fractions,
            uids=[ex.uid for ex in examples],
            n_tokens=np.array([len(b) for b in bodies], dtype=int),
            k=ks,
            target=target,
            p_full=p,
            p_without=probs[without, target[:, None]],
            p_only=probs[only, target[:, None]],
            p_empty=probs[empty, target],
        )
    return out


def _check_alignment(name: str, attrs: Sequence[Attribution], bodies: list[list[int]]) -> None:
    if len(attrs) != len(bodies):
        raise ValueError(f"{name}: {len(attrs)} attributions for {len(bodies)} examples")
    for i, (a, b) in enumerate(zip(attrs, bodies, strict=True)):
        if list(a.token_ids) != list(b):
            raise ValueError(
                f"{name}: attribution {i} ({a.uid or 'no uid'}) explains other tokens than "
                f"example {i}; pass the attributions in the order of the examples"
            )


# --- agreement between two attributions of the same tokens -------------------------------------


def attribution_agreement(a: Attribution, b: Attribution, k: float = 0.2) -> dict[str, float]:
    """Spearman correlation and top-k overlap |topk(a) & topk(b)| / k of two attributions.

    k is a fraction of the tokens, counted as in `n_top`; top-k uses `top_k`'s ranking. The
    correlation is NaN when either attribution is constant or there is a single token.
    """
    if list(a.token_ids) != list(b.token_ids):
        raise ValueError("the two attributions explain different tokens")
    n = len(a.token_ids)
    count = n_top(n, k)
    overlap = len(set(top_k(a.scores, count).tolist()) & set(top_k(b.scores, count).tolist()))
    constant = n < 2 or np.ptp(a.scores) == 0 or np.ptp(b.scores) == 0
    rho = float("nan") if constant else float(spearmanr(a.scores, b.scores).statistic)
    return {"spearman": rho, "top_k_overlap": overlap / count, "k": float(count)}


def agreement_frame(
    first: Sequence[Attribution], second: Sequence[Attribution], k: float = 0.2
) -> pd.DataFrame:
    """Per-example `attribution_agreement` of two aligned attribution lists, as a DataFrame."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} attributions against {len(second)}")
    records = []
    for a, b in zip(first, second, strict=True):
        records.append({"uid": a.uid, "method": a.method, **attribution_agreement(a, b, k)})
    return pd.DataFrame.from_records(records, columns=["uid", "method", "spearman",
                                                        "top_k_overlap", "k"])


# --- summaries ---------------------------------------------------------------------------------


def summarize(results: Iterable[Faithfulness] | Mapping[str, Faithfulness]) -> pd.DataFrame:
    """Mean over examples per method, metric and fraction: tidy (method, metric, fraction, value, sem, n).

    AOPC rows have fraction NaN; sem is the standard error of the mean (NaN for one example).
    """
    items = results.values() if isinstance(results, Mapping) else results
    frames = [r.to_frame() for r in items]
    if not frames:
        return pd.DataFrame(columns=["method", "metric", "fraction", "value", "sem", "n"])
    long = pd.concat(frames, ignore_index=True).dropna(subset=["value"])
    grouped = long.groupby(["method", "metric", "fraction"], dropna=False, sort=False)["value"]
    out = grouped.agg(value="mean", sem="sem", n="count").reset_index()
    return out
