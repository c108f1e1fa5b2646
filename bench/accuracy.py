"""Accuracy and calibration of the unpruned offline models on offline tasks (issue figures).

    python -m bench.accuracy                                   # 3 models x mr, trec, bbc_news, n = 200
    python -m bench.accuracy --models smollm2-135m --tasks mr,amazon --n 64 --shots 1

Prints one row per model x task (accuracy, the majority-class baseline, ECE, NLL, Brier, seconds)
and writes them as JSON to --out (default _build/bench/accuracy.json).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import calibration
from helpers.models import load_model
from helpers.results import write_json_atomic
from helpers.scoring import accuracy, label_logits
from helpers.tasks import DEFAULT_SHOTS, get_task, load_task


def evaluate(model_names: Sequence[str], tasks: Sequence[str], *, n: int, shots: int, seed: int = 0,
             batch_size: int = 16) -> pd.DataFrame:
    """One row per model x task: accuracy, majority baseline and calibration of the full model."""
    rows = []
    for name in model_names:
        model, tok = load_model(name)
        for task in tasks:
            examples = load_task(task, split="test", n=n, seed=seed)
            labels = np.array([e.label for e in examples])
            start = time.perf_counter()
            logits = label_logits(model, tok, get_task(task), examples, shots=shots, seed=seed,
                                  batch_size=batch_size)
            seconds = time.perf_counter() - start
            probs = calibration.softmax(logits)
            rows.append({
                "model": name, "task": task, "n": len(examples), "shots": shots,
                "accuracy": accuracy(probs, labels),
                "majority": float(np.bincount(labels).max() / len(labels)),
                "ece": calibration.ece(probs, labels), "nll": calibration.nll(probs, labels),
                "brier": calibration.brier(probs, labels), "seconds": seconds,
            })
            print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False, header=len(rows) == 1),
                  flush=True)
        del model
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__.split("\n")[0])
    p.add_argument("--models", default="smollm2-135m,gemma3-270m,qwen2.5-coder-0.5b")
    p.add_argument("--tasks", default="mr,trec,bbc_news")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--shots", type=int, default=DEFAULT_SHOTS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="_build/bench/accuracy.json")
    a = p.parse_args(argv)
    frame = evaluate(a.models.split(","), a.tasks.split(","), n=a.n, shots=a.shots, seed=a.seed)
    write_json_atomic(Path(a.out), json.loads(frame.to_json(orient="records")))
    print(frame.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
