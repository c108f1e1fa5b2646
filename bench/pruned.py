"""Section 1: pruned vs full model — parameters, memory, prefill latency, generation throughput.

Importance is computed once per model (criterion ``similarity`` by default); each ratio then
drops its layers from a deep copy of the full model, so every ratio starts from the same weights.
Beside each measured speedup stands the one the analytic FLOP count (bench.flops) predicts.
"""

from __future__ import annotations

import copy
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import GenerationConfig, PreTrainedTokenizerBase

from helpers.criteria import select_layers
from helpers.importance import attention_importance
from helpers.pruning import count_parameters, drop_attention, n_layers

from .flops import (
    ModelDims,
    counted_flops,
    dims_from_config,
    forward_flops,
    generation_flops,
    kv_cache_bytes_per_token,
    prefill_flops,
)
from .timing import summary, synchronize, time_calls, time_interleaved


@dataclass(frozen=True)
class PruningSettings:
    """Sizes and repeats of the pruned-vs-full measurements."""

    ratios: tuple[float, ...] = (0.0, 1 / 6, 1 / 3, 1 / 2)
    criterion: str = "similarity"
    prefill_batch: int = 8
    prefill_seq: int = 512
    prefill_logits: int | None = 1  # positions per row projected on the vocabulary; None: all
    gen_batch: int = 1
    gen_prompt: int = 64
    gen_new_tokens: int = 32
    repeats: int = 3
    warmup: int = 1
    count_flops: bool = True  # also count FLOPs with FlopCounterMode (one extra, untimed forward)
    interleave: bool = True  # keep every ratio's model in memory and time them round-robin
    seed: int = 0


def param_bytes(model: nn.Module) -> int:
    """Bytes held by the model's parameters (shared tensors counted once)."""
    unique = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() * p.element_size() for p in unique)


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(model.parameters())
    return p.device, p.dtype


def random_ids(vocab: int, batch: int, seq: int, device: torch.device, seed: int) -> torch.Tensor:
    """Uniform random token ids (generated on the CPU so every device gets the same ones)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, seq), generator=g).to(device)


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: torch.device) -> int | None:
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


def prefill_call(model: nn.Module, s: PruningSettings) -> Callable[[], object]:
    """A cache-free forward of prefill_batch x prefill_seq random tokens (logits as configured)."""
    device, _ = _device_dtype(model)
    ids = random_ids(model.config.vocab_size, s.prefill_batch, s.prefill_seq, device, s.seed)
    kwargs: dict = {"use_cache": False}
    if s.prefill_logits is not None:
        kwargs["logits_to_keep"] = s.prefill_logits

    def run():
        return model(input_ids=ids, **kwargs)

    return run


def greedy_config(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, new_tokens: int
) -> GenerationConfig:
    """Plain greedy decoding of exactly `new_tokens` tokens, keeping only the model's special ids.

    Sampling settings, repetition penalties and the like in a model's own generation config would
    change the work per token, so none are carried over.
    """
    own = getattr(model, "generation_config", None)
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = getattr(own, "pad_token_id", None)
    return GenerationConfig(
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        num_beams=1,
        use_cache=True,
        pad_token_id=0 if pad is None else pad,
        eos_token_id=getattr(own, "eos_token_id", None),
        bos_token_id=getattr(own, "bos_token_id", None),
    )


def generation_call(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, s: PruningSettings
) -> Callable[[], object]:
    """Greedy generation with the KV cache of exactly gen_new_tokens after a random prompt."""
    device, _ = _device_dtype(model)
    ids = random_ids(model.config.vocab_size, s.gen_batch, s.gen_prompt, device, s.seed + 1)
    mask = torch.ones_like(ids)
    clean = greedy_config(model, tokenizer, s.gen_new_tokens)

    def run():
        # generate merges the model's own generation config into any config it is given, so
        # the clean one replaces it for the call
        saved = model.generation_config
        model.generation_config = clean
        try:
            out = model.generate(input_ids=ids, attention_mask=mask)
        finally:
            model.generation_config = saved
        new = int(out.shape[1] - ids.shape[1])
        if new != s.gen_new_tokens:
            raise RuntimeError(f"generate produced {new} new tokens, expected {s.gen_new_tokens}")
        return out

    return run


@torch.inference_mode()
def measure(
    models: list[nn.Module], tokenizer: PreTrainedTokenizerBase, s: PruningSettings
) -> list[dict]:
    """Prefill and generation timings of each model (interleaved across the models)."""
    device, _ = _device_dtype(models[0])
    prefill = [prefill_call(m, s) for m in models]
    generation = [generation_call(m, tokenizer, s) for m in models]
    out = []
    for run in prefill:
        info: dict = {
            "batch": s.prefill_batch, "seq": s.prefill_seq, "logits_per_row": s.prefill_logits,
        }
        _peak_reset(device)
        if s.count_flops:
            info["counted_flops"] = counted_flops(run)  # one extra, untimed forward
        else:
            run()
        info["peak_memory_bytes"] = _peak(device)
        out.append({"prefill": info})
    if s.interleave:
        pre = time_interleaved(prefill, device=device, repeats=s.repeats, warmup=s.warmup)
        gen = time_interleaved(generation, device=device, repeats=s.repeats, warmup=s.warmup)
    else:
        pre = [time_calls(f, device=device, repeats=s.repeats, warmup=s.warmup) for f in prefill]
        gen = [time_calls(f, device=device, repeats=s.repeats, warmup=s.warmup) for f in generation]
    for row, tp, tg in zip(out, pre, gen, strict=True):
        row["prefill"].update(summary(tp))
        tokens = s.prefill_batch * s.prefill_seq
        row["prefill"]["tokens_per_s"] = tokens / row["prefill"]["median_s"]
        row["generation"] = {
            "batch": s.gen_batch, "prompt": s.gen_prompt, "new_tokens": s.gen_new_tokens,
            **summary(tg),
        }
        row["generation"]["tokens_per_s"] = (
            s.gen_batch * s.gen_new_tokens / row["generation"]["median_s"]
        )
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def calibration_texts(n: int) -> list[str]:
    """The first n texts of the bbc_news demo split (the book's importance calibration texts)."""
    from helpers.tasks import load_task

    return [e.text for e in load_task("bbc_news", split="demo")][:n]


def bench_model(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    s: PruningSettings,
    *,
    texts: Sequence[str],
    calib_max_length: int = 256,
    log: Callable[[str], None] = print,
) -> dict:
    """All ratios for one loaded model; the model itself is left unpruned."""
    device, dtype = _device_dtype(model)
    dims: ModelDims = dims_from_config(model.config)
    start = time.perf_counter()
    scores = attention_importance(
        model, tokenizer, list(texts), max_length=calib_max_length, progress=False
    )
    synchronize(device)
    importance_s = time.perf_counter() - start
    n = n_layers(model)
    ratios = sorted({0.0, *map(float, s.ratios)})
    plans = [(r, select_layers(scores, r, s.criterion, seed=s.seed)) for r in ratios]
    rows = []
    for ratio, layers in plans:
        log(f"  ratio {ratio:.3f}: dropping {len(layers)}/{n} attention layers {layers}")
        rows.append({
            "ratio": ratio,
            "n_dropped": len(layers),
            "dropped_layers": layers,
            "flops": {
                "prefill": prefill_flops(
                    dims, batch=s.prefill_batch, seq=s.prefill_seq, n_dropped=len(layers),
                    logits=s.prefill_logits,
                ),
                "prefill_breakdown": forward_flops(
                    dims, batch=s.prefill_batch, n_tokens=s.prefill_seq, n_dropped=len(layers),
                    lm_head_tokens=s.prefill_logits,
                ),
                "generation": generation_flops(
                    dims, batch=s.gen_batch, prompt=s.gen_prompt, new_tokens=s.gen_new_tokens,
                    n_dropped=len(layers),
                ),
            },
        })

    def pruned_copy(layers: list[int]) -> nn.Module:
        return model if not layers else drop_attention(copy.deepcopy(model), layers)

    def describe(row: dict, m: nn.Module) -> None:
        row["params"] = count_parameters(m)
        row["param_bytes"] = param_bytes(m)
        row["kv_cache_bytes_per_token"] = kv_cache_bytes_per_token(
            dims, n_dropped=row["n_dropped"], bytes_per_value=dtype.itemsize
        )

    if s.interleave:
        models = [pruned_copy(layers) for _, layers in plans]
        for row, m in zip(rows, models, strict=True):
            describe(row, m)
        for row, timed in zip(rows, measure(models, tokenizer, s), strict=True):
            row.update(timed)
        del models
    else:
        for row, (_, layers) in zip(rows, plans, strict=True):
            m = pruned_copy(layers)
            describe(row, m)
            row.update(measure([m], tokenizer, s)[0])
            del m
            gc.collect()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    for row in rows:
        log(
            f"  ratio {row['ratio']:.3f}: prefill {row['prefill']['median_s'] * 1e3:.1f} ms, "
            f"generation {row['generation']['tokens_per_s']:.1f} tokens/s"
        )
    full = rows[0]
    for row in rows:
        counted = row["prefill"].get("counted_flops")
        if counted is not None:
            parts = row["flops"]["prefill_breakdown"]
            # fused CPU attention kernels are invisible to FlopCounterMode: say which total matches
            row["flops"]["counted_over_predicted"] = _ratio(counted, row["flops"]["prefill"])
            row["flops"]["counted_matches"] = (
                "total" if counted == parts["total"]
                else "total without attention scores"
                if counted == parts["total"] - parts["attention_scores"]
                else None
            )
        sp = {}
        for kind, key in (("prefill", "median_s"), ("generation", "median_s")):
            measured = _ratio(full[kind][key], row[kind][key])
            predicted = _ratio(full["flops"][kind], row["flops"][kind])
            sp[f"{kind}_measured"] = measured
            sp[f"{kind}_predicted"] = predicted
            sp[f"{kind}_measured_over_predicted"] = _ratio(measured, predicted)
        # from the fastest runs: what the code can reach when nothing else competes for the CPU
        sp["prefill_measured_best"] = _ratio(full["prefill"]["min_s"], row["prefill"]["min_s"])
        row["speedup"] = sp
    return {
        "dims": dims.as_dict(),
        "dtype": str(dtype).removeprefix("torch."),
        "device": str(device),
        "n_layers": n,
        "importance": [float(x) for x in scores],
        "importance_seconds": importance_s,
        "calibration_texts": len(texts),
        "rows": rows,
    }
