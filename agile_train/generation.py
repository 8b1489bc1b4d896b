"""Batched sampling with a KV cache, returning the exact token ids that were sampled.

The trainer learns from these ids, never from a re-tokenization of the decoded text: decode-then-encode does
not round-trip in general (merges across the prompt boundary, normalization), and training on different ids
than were sampled silently makes PPO off-policy.

Conventions, shared with scoring (`agile_train.buffer`) and the update, as TRL's and OpenRLHF's PPO do:
- Tokens are drawn from softmax(logits / temperature); the log-probabilities PPO stores, the reference's and the
  update's are of that same tempered distribution (`score_temperature`). Temperature 0 (greedy) is scored at 1.
- Top-p truncates what is sampled, but log-probabilities are of the untruncated tempered distribution (the
  truncated one gives -inf to tokens the updated policy may put mass on, and the ratio is then undefined).
- A row ends at any end id of the model's generation config (chat models end a turn with an id other than the
  tokenizer's EOS), at a stop string, or after `max_new_tokens`. The ids keep the token that ended the row; the
  text handed to the env (`action_text`) is cut before the end id or the stop string.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch


@dataclass
class Sampling:
    """How actions are sampled: at most `max_new_tokens` tokens, `temperature` (0 = greedy), nucleus
    `top_p`, and `stop_strings` that end an action besides the EOS token."""

    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    stop_strings: list[str] = field(default_factory=list)
    end_ids: tuple[int, ...] = ()  # empty: the tokenizer's EOS (see `end_token_ids` for a model's full list)


def score_temperature(temperature: float) -> float:
    """The temperature log-probabilities are computed at: the sampling one, or 1 for greedy (temperature 0)."""
    return temperature if temperature > 0 else 1.0


def end_token_ids(model: torch.nn.Module | None, tokenizer) -> tuple[int, ...]:
    """Every id that ends an action: the tokenizer's EOS and each end id of the model's generation config."""
    found: list[int] = []
    for source in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tokenizer.eos_token_id):
        found.extend(source if isinstance(source, Iterable) else [source])
    return tuple(dict.fromkeys(int(i) for i in found if i is not None))


def action_text(tokenizer, response: list[int], sampling: Sampling) -> str:
    """The text an env gets for sampled ids: decoded without special tokens, cut before an end id that closed the
    row and before the first stop string (the ids keep both; only the env's text is cut)."""
    ends = set(sampling.end_ids) or {tokenizer.eos_token_id}
    if response and response[-1] in ends:
        response = response[:-1]
    text = tokenizer.decode(response, skip_special_tokens=True)
    cuts = [text.find(stop) for stop in sampling.stop_strings if stop and stop in text]
    return text[: min(cuts)] if cuts else text


def left_pad(rows: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows left-padded with `pad_id` into `[rows, width]` ids and the matching attention mask."""
    width = max((len(row) for row in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
    return ids.to(device), mask.to(device)


def choose_tokens(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row of `logits` `[rows, vocab]`: greedy at temperature 0, else temperature and nucleus
    (top-p) sampling. Returns `[rows]`."""
    if sampling.temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        outside = sorted_probs.cumsum(-1) - sorted_probs > sampling.top_p
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    on_device = generator is None or generator.device == probs.device
    draws = torch.multinomial(probs if on_device else probs.cpu(), 1, generator=generator).squeeze(-1)
    return draws.to(logits.device)


KV_CACHES = ("static", "dynamic")
SHARE_PREFIX_TOKENS = 32  # prompts sharing this many leading ids share one prefill of their common prefix


def prefix_groups(prompts: list[list[int]], min_tokens: int) -> list[tuple[list[int], int]]:
    """Rows whose prompts start with the same `min_tokens` ids, as (rows, shared length) for each group of at least
    two rows: the group's longest common prefix, kept one id short of its shortest prompt (each row needs one id of
    its own for the prefill to give its next-token logits). Empty when `min_tokens` is 0 or no two prompts share a
    start."""
    if min_tokens <= 0:
        return []
    by_start: dict[tuple[int, ...], list[int]] = {}
    for row, prompt in enumerate(prompts):
        if len(prompt) > min_tokens:
            by_start.setdefault(tuple(prompt[:min_tokens]), []).append(row)
    groups = []
    for rows in by_start.values():
        if len(rows) < 2:
            continue
        members = [prompts[row] for row in rows]
        common = min(len(prompt) for prompt in members) - 1
        for index in range(min_tokens, common):
            token = members[0][index]
            if any(prompt[index] != token for prompt in members):
                common = index
                break
        groups.append((rows, common))
    return groups


@torch.no_grad()
def sample_actions(model: torch.nn.Module, tokenizer, prompts: list[list[int]], sampling: Sampling,
                   device: torch.device, generator: torch.Generator | None = None,
                   logprobs: list[list[float]] | None = None, kv_cache: str = "static",
                   step: DecodeStep | None = None, share_prefix: int = SHARE_PREFIX_TOKENS) -> list[list[int]]:
    """Continue every prompt until an end id, a stop string or `max_new_tokens`; the sampled ids of each row (the
    id that ended it included). `logprobs`, when a list, receives per row the log-probability of each sampled
    token under the distribution it was drawn from (tempered, untruncated: see the module docstring).

    `kv_cache`: "static" (default) preallocates keys and values for the whole prompt plus `max_new_tokens` and
    writes each step in place (transformers' `StaticCache`); "dynamic" grows the cache by concatenation every
    step, which copies it whole each time. Both give the same tokens. A model whose cache cannot be static falls
    back to "dynamic". `step`: the forward of one decode step (`DecodeStep`, possibly compiled); default eager.

    `share_prefix` (tokens; 0 turns it off): with the static cache, prompts that start with the same
    `share_prefix` ids are a group whose longest common prefix is run once, at batch 1, and its keys and values are
    copied to every row of the group (`prefix_groups`); only the rest of each prompt runs batched. Env copies of
    one task share their instructions and table schema (about 70% of a first ProductQA or MedMCQA prompt), and
    GRPO-style groups share the whole prompt. When no two prompts share that many ids, the prefill is the plain
    batched one. Greedy tokens are those of the plain prefill up to fp32 rounding of the different matmul shapes
    (tested equal to batched `generate`). No prompts: `[]`, without calling the model. ValueError for another
    `kv_cache`."""
    if kv_cache not in KV_CACHES:
        raise ValueError(f"kv_cache must be one of {KV_CACHES}, got {kv_cache!r}")
    if not prompts:  # no rows: nothing to run (an empty batch has no width, and the model takes none)
        if logprobs is not None:
            logprobs[:] = []
        return []
    eos = set(sampling.end_ids) or set(end_token_ids(model, tokenizer))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(eos), 0)
    step = step or DecodeStep(model)
    groups = prefix_groups(prompts, share_prefix) if kv_cache == "static" else []
    shared = [0] * len(prompts)  # per row, how many leading ids come from its group's shared prefix
    for rows, length in groups:
        for row in rows:
            shared[row] = length
    head = max(shared)  # prefix columns [0, head): each row's shared prefix ends at column `head`
    input_ids, attention_mask = left_pad([prompt[cut:] for prompt, cut in zip(prompts, shared)], pad_id, device)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0) + torch.tensor(shared, device=device)[:, None]
    width = head + input_ids.shape[1]
    end = width + sampling.max_new_tokens
    length = step.cache_length(end)
    cache = static_cache(model, length) if kv_cache == "static" else None
    static = cache is not None
    if static:
        # The mask spans the whole cache; a column turns on when the step writing there runs (rows write in step).
        attention_mask = torch.cat([attention_mask.new_zeros((len(prompts), head)), attention_mask,
                                    attention_mask.new_zeros((len(prompts), length - width))], dim=1)
    try:
        if head and not (static and _fill_prefixes(model, step, cache, prompts, groups, head, attention_mask, device)):
            # No static cache for this model, or one that cannot take copied prefixes: the plain batched prefill.
            return sample_actions(model, tokenizer, prompts, sampling, device, generator, logprobs, kv_cache, step,
                                  share_prefix=0)
        outputs = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                        use_cache=True, logits_to_keep=1, **({step.cache_argument: cache} if static else {}))
    except (TypeError, AttributeError, NotImplementedError) as error:
        if not static:
            raise
        # Remote-code and older models may not take a StaticCache; nothing is drawn yet, so retrying is exact.
        warnings.warn(f"{type(model).__name__} cannot sample with a static KV cache ({error}); using a dynamic one",
                      stacklevel=2)
        return sample_actions(model, tokenizer, prompts, sampling, device, generator, logprobs, "dynamic", step)
    logits = outputs.logits[:, -1, :]
    cache = getattr(outputs, "cache", None) or getattr(outputs, "past_key_values", None)
    responses: list[list[int]] = [[] for _ in prompts]
    if logprobs is not None:
        logprobs[:] = [[] for _ in prompts]
    scale = score_temperature(sampling.temperature)
    active = list(range(len(prompts)))  # the batch's rows, in order
    finished: set[int] = set()
    next_position = position_ids[:, -1:] + 1
    for written in range(width, end):
        tokens = choose_tokens(logits, sampling, generator)
        if logprobs is not None:
            drawn = torch.log_softmax(logits.float() / scale, dim=-1).gather(-1, tokens[:, None])
        for slot, (row, token) in enumerate(zip(active, tokens.tolist())):
            if row in finished:
                continue
            responses[row].append(token)
            if logprobs is not None:
                logprobs[row].append(float(drawn[slot, 0]))
            if token in eos or _hits_stop(tokenizer, responses[row], sampling.stop_strings):
                finished.add(row)
        if len(finished) == len(prompts) or written == end - 1:
            break
        keep = [slot for slot, row in enumerate(active) if row not in finished]
        if step.leaves_batch(len(keep), len(active)) and _select_rows(cache, keep, device, static):
            # Finished rows leave the batch, so the remaining steps only pay for rows still writing.
            index = torch.tensor(keep, device=device)
            tokens, attention_mask, next_position = tokens[index], attention_mask[index], next_position[index]
            active = [active[slot] for slot in keep]
        if static:
            attention_mask[:, written] = 1
        else:
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(active), 1))], dim=1)
        logits = step(tokens[:, None], attention_mask, next_position, cache)
        next_position = next_position + 1
    return responses


class DecodeStep:
    """The forward of one decode step: `step(tokens [rows, 1], attention_mask [rows, columns], position_ids
    [rows, 1], cache)` -> next-token logits `[rows, vocab]`.

    `compile=True` runs it through `torch.compile` (on CUDA with CUDA graphs, mode "reduce-overhead"); shapes
    are then kept to few sizes so it compiles few times: the static cache's length is rounded up to a multiple of
    `length_bucket` and finished rows leave the batch only when it can halve. The first calls at a new shape
    pay the compile time. Keep one `DecodeStep` per model (the engine does) so compiled code is reused.
    """

    def __init__(self, model: torch.nn.Module, compile: bool = False, length_bucket: int = 256) -> None:
        self.model, self.compiled, self.length_bucket = model, compile, length_bucket
        self.cache_argument = _cache_argument(model)
        self._forward, on_cuda = self._eager, next(model.parameters()).device.type == "cuda"
        self._graphs = compile and on_cuda
        if compile:
            # dynamic=None: the first shape compiles static, a second one recompiles with its sizes symbolic, so
            # later batch sizes and cache lengths reuse that graph (CUDA graphs still record per shape).
            self._forward = torch.compile(self._eager, dynamic=None, mode="reduce-overhead" if on_cuda else None)

    def _eager(self, tokens, attention_mask, position_ids, cache):
        outputs = self.model(input_ids=tokens, attention_mask=attention_mask, position_ids=position_ids,
                             use_cache=True, **{self.cache_argument: cache})
        return outputs.logits[:, -1, :]

    def __call__(self, tokens: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                 cache) -> torch.Tensor:
        if self._graphs:
            # Each step is a new CUDA-graph replay: the last step's logits (already consumed) may be overwritten.
            torch.compiler.cudagraph_mark_step_begin()
        return self._forward(tokens, attention_mask, position_ids, cache)

    def cache_length(self, needed: int) -> int:
        """Cache length for `needed` positions: exact in eager mode, rounded up to the bucket when compiled."""
        if not self.compiled:
            return needed
        return -(-needed // self.length_bucket) * self.length_bucket

    def leaves_batch(self, keep: int, rows: int) -> bool:
        """Whether finished rows leave a batch of `rows` rows with `keep` still writing: whenever some finished
        in eager mode; compiled, only when the batch can halve (fewer shapes to compile)."""
        if keep == rows:
            return False
        return not self.compiled or keep <= rows // 2


def static_cache(model: torch.nn.Module, length: int):
    """A `StaticCache` of `length` positions for `model`, or None when this model or transformers cannot have one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        from transformers import StaticCache

        return StaticCache(config=base.config, max_cache_len=length)
    except (ImportError, TypeError, ValueError, AttributeError, NotImplementedError):
        return None


def _fill_prefixes(model: torch.nn.Module, step: DecodeStep, cache, prompts: list[list[int]],
                   groups: list[tuple[list[int], int]], head: int, attention_mask: torch.Tensor,
                   device: torch.device) -> bool:
    """Run each group's shared prefix once (batch 1, its own dynamic cache) and copy its keys and values into the
    static `cache` at columns [head - length, head) of every row of the group, turning those mask columns on;
    the cache then stands at `head` written columns. False when the cache's layers are not plain full-attention
    static layers (sliding windows keep another layout) or the prefix's cache has other layers; the caller then
    starts over with a fresh cache and the plain batched prefill."""
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer).__name__ != "StaticLayer" for layer in layers):
        return False
    rows_total = attention_mask.shape[0]
    for rows, length in groups:
        ids = torch.tensor([prompts[rows[0]][:length]], device=device)
        positions = torch.arange(length, device=device)[None, :]
        outputs = model(input_ids=ids, attention_mask=torch.ones_like(ids), position_ids=positions, use_cache=True,
                        logits_to_keep=1)
        prefix = getattr(outputs, "cache", None) or getattr(outputs, "past_key_values", None)
        prefix_layers = getattr(prefix, "layers", None)
        if prefix_layers is None or len(prefix_layers) != len(layers):
            return False
        index = torch.tensor(rows, device=device)
        for layer, source in zip(layers, prefix_layers):
            if not getattr(layer, "is_initialized", False):
                layer.lazy_initialization(source.keys.expand(rows_total, -1, -1, -1),
                                          source.values.expand(rows_total, -1, -1, -1))
            layer.keys[index, :, head - length:head] = source.keys[0]
            layer.values[index, :, head - length:head] = source.values[0]
        attention_mask[index, head - length:head] = 1
    for layer in layers:
        layer.cumulative_length.fill_(head)
    return True


def _select_rows(cache, keep: list[int], device: torch.device, static: bool) -> bool:
    """Keep only batch rows `keep` in `cache`; returns False when this cache cannot drop rows (they then stay in
    the batch and their tokens are ignored)."""
    index = torch.tensor(keep, device=device)
    if static:
        layers = [layer for layer in getattr(cache, "layers", []) if getattr(layer, "is_initialized", False)]
        if not layers or not all(hasattr(layer, "keys") and hasattr(layer, "values") for layer in layers):
            return False
        for layer in layers:
            layer.keys, layer.values = layer.keys[index], layer.values[index]
            layer.batch_size = len(keep)
        return True
    if hasattr(cache, "batch_select_indices"):
        cache.batch_select_indices(index)
        return True
    return False


def _cache_argument(model: torch.nn.Module) -> str:
    """transformers 5.24 renamed `past_key_values` to `cache`; older and remote-code models keep the old name."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _hits_stop(tokenizer, response: list[int], stop_strings: list[str]) -> bool:
    if not stop_strings:
        return False
    # A stop string can only have been completed by the last few tokens.
    tail = tokenizer.decode(response[-16:], skip_special_tokens=True)
    return any(stop and stop in tail for stop in stop_strings)  # "" ends nothing, as in `action_text`
