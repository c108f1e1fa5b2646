"""AttnLRP relevance on stock transformers decoders: one model instance, reversible, no `lxt`.

LRP as input x modified gradient (Achtibat et al. 2024, AttnLRP; Arras et al. 2025): inside
`lrp_mode(model)` the backward pass of a few operations is changed, so that after
back-propagating from an explained output (a logit, or a fixed linear combination of logits)
`x * x.grad` is the LRP relevance of any tensor x, and a token's relevance is
`(inputs_embeds * inputs_embeds.grad).sum(-1)`. The forward pass is unchanged up to rounding.

Rules, each through an extension point of transformers or a removable hook on this instance:

- attention (rule "attention"): a function registered in transformers' `AttentionInterface`
  under a private name, with the base implementation's mask function registered under the same
  name in `AttentionMaskInterface` (without it the causal mask silently disappears), and
  selected through this model's own configs. It wraps the model's eager or sdpa attention.
  Variant "attnlrp": the gradient reaching q and k is scaled by 1/4 and v by 1/2 (uniform rule
  over the two bilinear matmuls q k^T and weights x v; autograd through the softmax is already
  the Taylor rule with bias). Variant "cp" (CP-LRP): q and k are detached, the attention weights
  are constants and attention is a linear map of v.
- RMSNorm modules, found by class name (rule "norm"): identity rule on the normalisation, the
  factor 1/sqrt(mean(x^2) + eps) held constant. Element-wise activation modules, transformers'
  `ACT2CLS` classes and torch's (rule "activation"): identity rule. Both are one forward hook
  that returns x * (y / x).detach(): y forward, gradient * y / x backward (0 where x = 0, where
  the relevance x * gradient is 0 either way).
- gated MLP product act(gate) * up (rule "gate"): uniform rule, the gradient entering the down
  projection is halved.
- linear maps, residual sums, RoPE, constant scalings: plain autograd (epsilon rule, epsilon -> 0).
  Biases absorb relevance.

Conservation: with variant "cp" on a bias-free model the relevances of all inputs sum to the
explained output up to rounding; variant "attnlrp" loses the part that the softmax rule's bias
term absorbs, so its sums are close to, not equal to, the output.

Unsupported models raise NotImplementedError naming the cause instead of giving wrong relevance:
attention or final-logit softcapping (Gemma 2), attention biases such as ALiBi or sinks, fused or
routed experts (MoE), norm classes other than RMSNorm (LayerNorm included), activations with
f(0) != 0, modules of unknown kind, feed-forward blocks that are not gated MLPs with an activation
module, attention that does not go through the `AttentionInterface` (checked at run time), and
attention implementations other than eager and sdpa. Layers dropped by `pruning.drop_attention`
return zeros and pass no relevance.

Precision: gradients flow in the model's dtype; the identity-rule ratios and every relevance sum
here are computed in at least float32 (float64 for a float64 model). Tested on CPU in float32 and
float64 only: a bf16 model on CUDA takes the same code path but is untested.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .progress import progress as progress_bar
from .pruning import attention_module, decoder_layers, is_dropped
from .scoring import build_prompt, encode_bodies, pad_id, rows_to_batch
from .tasks import DEFAULT_SHOTS, Example, Task, demonstrations, get_task, load_task

VARIANTS: tuple[str, ...] = ("attnlrp", "cp")
RULES: tuple[str, ...] = ("norm", "activation", "gate", "attention")
BASE_ATTENTION: tuple[str, ...] = ("eager", "sdpa")
_NAME_PREFIX = "_helpers_lrp_"
_GATED = (("gate_proj", "up_proj", "down_proj"), ("gate_up_proj", "down_proj"))
_MLP_NAMES = ("mlp", "feed_forward")
_LAYER_TYPES = frozenset({"full_attention", "sliding_attention", "chunked_attention"})
_SOFTCAPS = ("attn_logit_softcapping", "final_logit_softcapping")
_ATTENTION_EXTRAS = ("softcap", "position_bias", "s_aux", "sinks")  # kwargs LRP has no rule for
_MOE = re.compile(r"moe|expert", re.IGNORECASE)
_contexts = itertools.count()


# --- backward-only transformations ---------------------------------------------------------------


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by a constant."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale, None


def _scale_grad(x: torch.Tensor, scale: float) -> torch.Tensor:
    return x if scale == 1.0 else _ScaleGrad.apply(x, scale)


def _wide(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _identity_rule(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # y forward (up to rounding); backward passes gradient * y / x, i.e. f(x) / x held constant
    dtype = _wide(x.dtype)
    xw = x.to(dtype)
    xd = xw.detach()
    zero = xd == 0
    ratio = torch.where(zero, 0.0, y.detach().to(dtype) / torch.where(zero, 1.0, xd))
    return (xw * ratio).to(y.dtype)


def _needs_rule(x: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and x.requires_grad


# --- what the model is made of -------------------------------------------------------------------


def _activation_classes() -> tuple[type, ...]:
    from transformers.activations import ACT2CLS

    classes = {v[0] if isinstance(v, tuple) else v for v in ACT2CLS.values()}
    classes |= {nn.GELU, nn.SiLU, nn.ReLU, nn.Mish, nn.Tanh, nn.LeakyReLU, nn.Hardswish}
    return tuple(classes)


def _is_rms_norm(module: nn.Module) -> bool:
    return type(module).__name__.lower().endswith("rmsnorm")


def _configs(model: nn.Module) -> list:
    from transformers import PretrainedConfig

    found: dict[int, PretrainedConfig] = {}
    todo = [model.config] + [m.config for m in model.modules()
                             if isinstance(getattr(m, "config", None), PretrainedConfig)]
    while todo:
        cfg = todo.pop()
        if id(cfg) in found:
            continue
        found[id(cfg)] = cfg
        todo.extend(sub for key in getattr(cfg, "sub_configs", {}) or {}
                    if isinstance(sub := getattr(cfg, key, None), PretrainedConfig))
    return list(found.values())


@dataclass
class _Plan:
    """The modules each rule acts on, found once when the mode is entered."""

    attention: list[nn.Module] = field(default_factory=list)
    bases: dict[int, Callable] = field(default_factory=dict)  # id(attention) -> base function
    norms: list[nn.Module] = field(default_factory=list)
    activations: list[nn.Module] = field(default_factory=list)
    mlps: list[nn.Module] = field(default_factory=list)
    mlp_of_activation: dict[int, int] = field(default_factory=dict)
    down_projections: list[nn.Module] = field(default_factory=list)
    configs: list = field(default_factory=list)


def _unsupported(model: nn.Module, problems: list[str]) -> NotImplementedError:
    kind = getattr(model.config, "model_type", type(model).__name__)
    listed = "; ".join(problems)
    return NotImplementedError(
        f"LRP does not support this {kind} model: {listed}. Relevance would be wrong, so none is "
        f"computed (supported: decoders with RMSNorm, gated MLPs, element-wise activation modules "
        f"and eager or sdpa attention, e.g. llama, mistral, qwen2, qwen3, gemma, gemma3, phi3)."
    )


def _plan(model: nn.Module) -> _Plan:
    """Find every module a rule acts on; raise on anything the rules cannot handle."""
    plan = _Plan(configs=_configs(model))
    problems: list[str] = []
    for cfg in plan.configs:
        for name in _SOFTCAPS:
            if getattr(cfg, name, None) is not None:
                problems.append(f"{name}={getattr(cfg, name)} (no LRP rule for tanh softcapping)")
        unknown_types = set(getattr(cfg, "layer_types", None) or ()) - _LAYER_TYPES
        if unknown_types:
            problems.append(f"layer types {sorted(unknown_types)} (not softmax attention)")
    act_classes = _activation_classes()
    embeddings = model.get_input_embeddings()
    dropped = {id(m) for m in model.modules() if is_dropped(m)}
    for name, m in model.named_modules():
        if id(m) in dropped:
            continue
        cls = type(m).__name__
        if _MOE.search(cls) or name.rsplit(".", 1)[-1] == "experts":
            problems.append(f"mixture-of-experts module {name} ({cls})")
            continue
        if any(True for _ in m.children()):
            own = [n for n, _ in m.named_parameters(recurse=False)]
            if own:
                problems.append(f"{name} ({cls}) uses its own parameters {own} in code LRP does not know")
            continue
        if isinstance(m, (nn.Linear, nn.Dropout)) or cls.endswith("RotaryEmbedding"):
            continue
        if isinstance(m, nn.Embedding):
            if m is not embeddings:
                problems.append(f"embedding {name} ({cls}) other than the input embedding "
                                f"(e.g. learned positions), whose relevance is not tracked")
        elif _is_rms_norm(m):
            if getattr(m, "bias", None) is not None:
                problems.append(f"norm {name} ({cls}) with a bias")
            plan.norms.append(m)
        elif isinstance(m, act_classes):
            plan.activations.append(m)
        else:
            problems.append(f"module {name} of unknown kind {cls}")
    problems += _check_activations(plan.activations)
    for i, layer in enumerate(decoder_layers(model)):
        problems += _plan_layer(plan, i, layer)
    if problems:
        raise _unsupported(model, problems)
    return plan


def _check_activations(activations: Sequence[nn.Module]) -> list[str]:
    problems = []
    for m in {type(a): a for a in activations}.values():
        p = next(m.parameters(), None)
        zeros = torch.zeros(3, dtype=p.dtype if p is not None else torch.float32,
                            device=p.device if p is not None else "cpu")
        with torch.no_grad():
            y = m(zeros)
        if y.shape != zeros.shape or bool(y.ne(0).any()):
            problems.append(f"activation {type(m).__name__} with f(0) != 0 (the identity rule needs f(0) = 0)")
    return problems


def _plan_layer(plan: _Plan, i: int, layer: nn.Module) -> list[str]:
    problems = []
    attn = attention_module(layer)
    if not is_dropped(attn):
        cls = type(attn).__name__
        impl = getattr(getattr(attn, "config", None), "_attn_implementation", None)
        if getattr(attn, "attn_logit_softcapping", None) is not None:
            problems.append(f"attention logit softcapping in layer {i}")
        if impl not in BASE_ATTENTION:
            problems.append(f"attention implementation {impl!r} in layer {i} (supported: "
                            f"{', '.join(BASE_ATTENTION)}; switch with model.set_attn_implementation('sdpa'))")
        elif impl == "sdpa":
            from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

            plan.bases[id(attn)] = ALL_ATTENTION_FUNCTIONS["sdpa"]
        else:
            eager = getattr(sys.modules[type(attn).__module__], "eager_attention_forward", None)
            if eager is None:
                problems.append(f"{cls} in layer {i} has no eager_attention_forward")
            else:
                plan.bases[id(attn)] = eager
        plan.attention.append(attn)
    mlp = next((getattr(layer, n) for n in _MLP_NAMES if isinstance(getattr(layer, n, None), nn.Module)), None)
    if mlp is None:
        return problems + [f"layer {i} has no feed-forward block named {' or '.join(_MLP_NAMES)}"]
    if not any(all(isinstance(getattr(mlp, n, None), nn.Linear) for n in names) for names in _GATED):
        return problems + [f"feed-forward {type(mlp).__name__} in layer {i} is not a gated MLP "
                           f"({' / '.join('+'.join(n) for n in _GATED)})"]
    acts = [m for m in mlp.modules() if any(m is a for a in plan.activations)]
    if len(acts) != 1:
        return problems + [f"feed-forward {type(mlp).__name__} in layer {i} has {len(acts)} activation "
                           f"modules (need exactly one)"]
    plan.mlps.append(mlp)
    plan.mlp_of_activation[id(acts[0])] = id(mlp)
    plan.down_projections.append(mlp.down_proj)
    return problems


# --- the mode ------------------------------------------------------------------------------------


@contextlib.contextmanager
def lrp_mode(model: nn.Module, variant: str = "attnlrp", *,
             _disable: frozenset[str] | set[str] = frozenset()) -> Iterator[nn.Module]:
    """Within the block, x * x.grad after back-propagating from an output is x's LRP relevance.

    `variant`: "attnlrp" (AttnLRP) or "cp" (CP-LRP, attention weights held constant). Changes this
    model instance only and restores it on exit (also after an exception). Gradients must be
    enabled by the caller. `_disable` (tests only) switches rules of `RULES` off.
    """
    if variant not in VARIANTS:
        raise ValueError(f"Unknown LRP variant {variant!r}. Known: {', '.join(VARIANTS)}")
    unknown = set(_disable) - set(RULES)
    if unknown:
        raise ValueError(f"unknown rules {sorted(unknown)} in _disable; known: {', '.join(RULES)}")
    if model.training:
        raise ValueError("LRP needs the model in eval mode (dropout off): call model.eval() first")
    for cfg in _configs(model):
        impl = getattr(cfg, "_attn_implementation_internal", None)
        if isinstance(impl, str) and impl.startswith(_NAME_PREFIX):
            raise ValueError("this model is already inside lrp_mode; nested use is not supported")
    plan = _plan(model)
    state = _State(plan, variant, frozenset(_disable))
    try:
        state.install(model)
        yield model
    finally:
        state.uninstall()


class _State:
    """Hooks, registry entries and config values installed by one `lrp_mode` block."""

    def __init__(self, plan: _Plan, variant: str, disabled: frozenset[str]):
        self.plan = plan
        self.detach_qk = variant == "cp"
        self.qk_scale = 0.25
        self.v_scale = 1.0 if variant == "cp" else 0.5
        self.disabled = disabled
        self.handles: list = []
        self.saved: list[tuple[object, object]] = []  # (config, _attn_implementation_internal)
        self.names: list[str] = []
        self.routed: set[int] = set()  # attention modules that went through `attend` this call
        self.activated: set[int] = set()  # MLPs whose activation ran this call

    # registry entries and configs
    def _register(self, base: str) -> str:
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
        from transformers.modeling_utils import AttentionInterface

        name = f"{_NAME_PREFIX}{next(_contexts)}_{base}"
        # the mask is looked up in the class-wide mapping, so both entries go there; the private,
        # unique name is selected only by this model's configs and is removed on exit
        AttentionInterface._global_mapping[name] = self._attend
        AttentionMaskInterface._global_mapping[name] = ALL_MASK_ATTENTION_FUNCTIONS[base]
        self.names.append(name)
        return name

    def install(self, model: nn.Module) -> None:
        names: dict[str, str] = {}
        for cfg in self.plan.configs:
            impl = getattr(cfg, "_attn_implementation_internal", None)
            if impl in BASE_ATTENTION:
                if impl not in names:
                    names[impl] = self._register(impl)
                self.saved.append((cfg, impl))
                cfg._attn_implementation_internal = names[impl]
        for attn in self.plan.attention:
            self.handles.append(attn.register_forward_pre_hook(self._before_attention))
            self.handles.append(attn.register_forward_hook(self._after_attention))
        for mlp in self.plan.mlps:
            self.handles.append(mlp.register_forward_pre_hook(self._before_mlp))
            self.handles.append(mlp.register_forward_hook(self._after_mlp))
        for m in self.plan.norms:
            self.handles.append(m.register_forward_hook(self._norm_hook, with_kwargs=True))
        for m in self.plan.activations:
            self.handles.append(m.register_forward_hook(self._activation_hook, with_kwargs=True))
        for m in self.plan.down_projections:
            self.handles.append(m.register_forward_pre_hook(self._gate_hook))

    def uninstall(self) -> None:
        from transformers.masking_utils import AttentionMaskInterface
        from transformers.modeling_utils import AttentionInterface

        for h in reversed(self.handles):
            h.remove()
        for cfg, impl in self.saved:
            cfg._attn_implementation_internal = impl
        for name in self.names:
            AttentionInterface._global_mapping.pop(name, None)
            AttentionMaskInterface._global_mapping.pop(name, None)

    # attention
    def _attend(self, module, query, key, value, attention_mask, *args, **kwargs):
        base = self.plan.bases.get(id(module))
        if base is None:
            raise RuntimeError(f"{type(module).__name__} was not prepared by lrp_mode")
        extras = [k for k in _ATTENTION_EXTRAS if kwargs.get(k) is not None]
        if extras:
            raise NotImplementedError(f"{type(module).__name__} passes {extras} to attention; "
                                      f"LRP has no rule for them")
        self.routed.add(id(module))
        if "attention" not in self.disabled and torch.is_grad_enabled():
            if self.detach_qk:
                query, key = query.detach(), key.detach()
            else:
                query, key = _scale_grad(query, self.qk_scale), _scale_grad(key, self.qk_scale)
            value = _scale_grad(value, self.v_scale)
        return base(module, query, key, value, attention_mask, *args, **kwargs)

    def _before_attention(self, module, args):
        self.routed.discard(id(module))

    def _after_attention(self, module, args, output):
        if id(module) not in self.routed:
            raise NotImplementedError(
                f"{type(module).__name__} computed attention without transformers' "
                f"AttentionInterface, so LRP cannot apply its attention rule"
            )

    # feed-forward
    def _before_mlp(self, module, args):
        self.activated.discard(id(module))

    def _after_mlp(self, module, args, output):
        if id(module) not in self.activated:
            raise NotImplementedError(
                f"{type(module).__name__} did not call its activation module (an inline "
                f"functional activation or a fused kernel), so LRP cannot apply the identity rule"
            )

    def _gate_hook(self, module, args):
        x = args[0]
        if "gate" in self.disabled or not _needs_rule(x):
            return None
        return (_scale_grad(x, 0.5), *args[1:])

    # element-wise identity rule
    def _elementwise(self, module, args, kwargs, output, rule: str):
        if len(args) != 1 or kwargs or not isinstance(args[0], torch.Tensor):
            raise NotImplementedError(f"{type(module).__name__} called with more than one input; "
                                      f"LRP's identity rule needs y = f(x)")
        x = args[0]
        if output.shape != x.shape:
            raise NotImplementedError(f"{type(module).__name__} is not element-wise")
        if rule in self.disabled or not _needs_rule(x):
            return None
        return _identity_rule(x, output)

    def _norm_hook(self, module, args, kwargs, output):
        return self._elementwise(module, args, kwargs, output, "norm")

    def _activation_hook(self, module, args, kwargs, output):
        mlp = self.plan.mlp_of_activation.get(id(module))
        if mlp is not None:
            self.activated.add(mlp)
        return self._elementwise(module, args, kwargs, output, "activation")


# --- explained outputs -----------------------------------------------------------------------------


def label_log_odds(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per row, the target label's logit minus the mean of the other labels' logits.

    For two labels this is log(p_target / p_other) under the label-set softmax; in general the
    mean of log(p_target / p_j) over the other labels j. Linear in the logits, so LRP conserves
    it; unchanged when every label logit moves alike.
    """
    k = logits.shape[-1]
    if k < 2:
        raise ValueError("label_log_odds needs at least two labels")
    chosen = logits.gather(-1, target[:, None].to(logits.device)).squeeze(-1)
    return (k * chosen - logits.sum(-1)) / (k - 1)


# --- layer relevance for pruning -------------------------------------------------------------------


def attention_relevance(
    model: nn.Module,
    tokenizer,
    source: Task | str | Sequence[str],
    *,
    examples: Sequence[Example] | None = None,
    demos: Sequence[Example] | None = None,
    n: int = 32,
    shots: int = DEFAULT_SHOTS,
    seed: int = 0,
    variant: str = "attnlrp",
    batch_size: int = 4,
    max_length: int = 256,
    progress: bool = True,
) -> list[float]:
    """Per decoder layer, the relevance entering the residual stream through its attention output.

    Lower = less relevant = drop first (after Hatefi et al. 2025). Choices:

    - samples: for a task (a `Task` or a task name), up to `n` examples of its demonstration pool
      (seeded draw; the prompt's own demonstrations left out), or `examples` when given, each
      as the full classification prompt (`scoring.build_prompt` with `shots`, `seed`, `demos`)
      run without a prefix cache so that relevance reaching the instruction and demonstrations
      counts too. For a list of texts (e.g. `pruning.calibration_texts()`): the texts, cut to
      `max_length` tokens.
    - target: for a task, the predicted label's `label_log_odds` (what method `lrp` explains);
      for texts, at every position, the actual next token's logit minus the mean logit over the
      vocabulary, summed over positions (also linear in the logits and blind to a shift of
      all logits, which changes no prediction).
    - per sample: the layer's relevance is sum(a * a.grad) over tokens and hidden units, a the
      attention module's output; the sample's vector over layers is divided by its L1 norm, so
      every sample weighs the same whatever its logit's size.
    - aggregate: the mean over samples of the absolute normalised relevance. Absolute, because a
      layer that pushes strongly against the output matters as much to it as one that pushes
      for it, and a signed mean would let the two cancel or rank such a layer as droppable.

    Dropped layers score 0. The scores sum to 1 over layers.
    """
    if n < 1 or batch_size < 1:
        raise ValueError(f"n and batch_size must be >= 1, got n={n}, batch_size={batch_size}")
    if isinstance(source, (Task, str)):
        batches = _task_batches(model, tokenizer, source, examples, demos, n, shots, seed, batch_size)
    else:
        if examples is not None or demos is not None:
            raise ValueError("examples and demos go with a task, not with a list of texts")
        batches = _text_batches(model, tokenizer, list(source), batch_size, max_length)
    layers = decoder_layers(model)
    outputs: dict[int, torch.Tensor] = {}

    def keep(i):
        def hook(_module, _args, output):
            outputs[i] = output[0] if isinstance(output, tuple) else output

        return hook

    handles = [attention_module(layer).register_forward_hook(keep(i)) for i, layer in enumerate(layers)]
    per_sample: list[torch.Tensor] = []
    try:
        with torch.inference_mode(False), torch.enable_grad(), lrp_mode(model, variant):
            for batch in progress_bar(batches, desc="attention relevance", enabled=progress):
                outputs.clear()
                explained = batch()
                alive = [i for i in range(len(layers)) if outputs[i].requires_grad]
                grads = torch.autograd.grad(explained.sum(), [outputs[i] for i in alive])
                rel = torch.zeros(explained.shape[0], len(layers), dtype=torch.float64)
                for i, g in zip(alive, grads, strict=True):
                    a = outputs[i].detach()
                    rel[:, i] = (a.to(_wide(a.dtype)) * g.to(_wide(g.dtype))).sum(dim=(1, 2)).double().cpu()
                per_sample.append(rel)
    finally:
        for h in handles:
            h.remove()
    rel = torch.cat(per_sample)
    total = rel.abs().sum(dim=1, keepdim=True)
    normalised = torch.where(total > 0, rel / total.clamp_min(1e-300), 0.0)
    return normalised.abs().mean(dim=0).tolist()


def _task_batches(model, tokenizer, source, examples, demos, n, shots, seed, batch_size) -> list:
    task = get_task(source) if isinstance(source, str) else source
    if demos is None:
        demos = demonstrations(task.name, shots, seed=seed)
    if examples is None:
        used = {d.uid for d in demos}
        pool = [e for e in load_task(task.name, split="demo") if e.uid not in used]
        rng = np.random.default_rng(seed)
        examples = [pool[i] for i in sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False))]
    if len(examples) == 0:
        raise ValueError(f"no reference examples for task {task.name!r}")
    prompt = build_prompt(tokenizer, task, demos=demos)
    rows = [list(prompt.prefix_ids) + b + list(prompt.suffix_ids)
            for b in encode_bodies(tokenizer, task, examples)]
    rows.sort(key=len)
    device = next(model.parameters()).device
    label_ids = torch.tensor(prompt.label_ids, device=device)

    def make(chunk):
        def run() -> torch.Tensor:
            ids, lengths = rows_to_batch(chunk, pad_id(tokenizer), device)
            mask = (torch.arange(ids.shape[1], device=device)[None, :] < lengths[:, None]).long()
            embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
            out = model(inputs_embeds=embeds, attention_mask=mask, use_cache=False,
                        logits_to_keep=(lengths - 1)[:, None])
            logits = out.logits[:, 0, :].index_select(-1, label_ids)
            logits = logits.to(_wide(logits.dtype))
            return label_log_odds(logits, logits.detach().argmax(dim=-1))

        return run

    return [make(rows[s : s + batch_size]) for s in range(0, len(rows), batch_size)]


def _text_batches(model, tokenizer, texts: list[str], batch_size: int, max_length: int) -> list:
    if len(texts) == 0 or not all(isinstance(t, str) for t in texts):
        raise ValueError("pass a task, a task name, or a non-empty list of texts")
    device = next(model.parameters()).device

    def make(chunk):
        def run() -> torch.Tensor:
            rows = [list(tokenizer(t, add_special_tokens=True)["input_ids"])[:max_length] for t in chunk]
            ids, lengths = rows_to_batch(rows, pad_id(tokenizer), device)
            mask = torch.arange(ids.shape[1], device=device)[None, :] < lengths[:, None]
            embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
            logits = model(inputs_embeds=embeds, attention_mask=mask.long(), use_cache=False).logits
            logits = logits[:, :-1].to(_wide(logits.dtype))
            nxt = logits.gather(-1, ids[:, 1:, None]).squeeze(-1)
            per_position = (nxt - logits.mean(dim=-1)) * mask[:, 1:]
            return per_position.sum(dim=1)

        return run

    return [make(texts[s : s + batch_size]) for s in range(0, len(texts), batch_size)]


def relevance_scores(model: nn.Module, tokenizer, inputs) -> list[float]:
    """The `relevance` criterion's score function: `attention_relevance` on the importance texts."""
    return attention_relevance(model, tokenizer, list(inputs.texts), variant="attnlrp",
                               max_length=inputs.max_length, batch_size=4)
