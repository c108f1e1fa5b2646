"""Profile one attribution method with torch.profiler: where its time goes, operator by operator.

    python -m bench.profile                                   # integrated gradients, smollm2, 8 mr examples
    python -m bench.profile --method input_x_gradient --shapes --rows 30

Prints the wall time of an unprofiled run, then the profiler's table of operators sorted by
their own CPU (or CUDA) time. Not part of `make bench`; the Cost appendix reports what it showed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from .timing import synchronize


def main(argv: Sequence[str] | None = None) -> None:
    """Run the attribution once to warm up, once timed, once under the profiler; print the table."""
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--task", default="mr")
    p.add_argument("--method", default="integrated_gradients")
    p.add_argument("--n", type=int, default=8, help="examples")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--ig-steps", type=int, default=16)
    p.add_argument("--device", default="auto")
    p.add_argument("--rows", type=int, default=20, help="operators shown")
    p.add_argument("--shapes", action="store_true", help="one row per operator and input shape")
    args = p.parse_args(argv)

    from torch.profiler import ProfilerActivity, profile

    from helpers.attribution import attribute
    from helpers.models import load_model
    from helpers.tasks import get_task, load_task

    model, tokenizer = load_model(args.model, device=args.device)
    device = next(model.parameters()).device
    task = get_task(args.task)
    examples = load_task(args.task, n=args.n, seed=0)
    options = {"n_steps": args.ig_steps} if args.method == "integrated_gradients" else {}

    def run(exs):
        return attribute(model, tokenizer, task, exs, method=args.method,
                         batch_size=args.batch_size, progress=False, **options)

    run(examples[:1])  # warm-up
    synchronize(device)
    start = time.perf_counter()
    run(examples)
    synchronize(device)
    print(f"{args.method} on {len(examples)} {args.task} examples with {args.model} ({device}): "
          f"{time.perf_counter() - start:.2f} s unprofiled")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, record_shapes=args.shapes) as prof:
        run(examples)
        synchronize(device)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages(group_by_input_shape=args.shapes).table(
        sort_by=sort, row_limit=args.rows, max_name_column_width=40, max_shapes_column_width=60
    )
    print(table)


if __name__ == "__main__":
    main()
