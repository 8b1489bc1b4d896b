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
    width = max(len(row) for row in rows)
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


@torch.no_grad()
def sample_actions(model: torch.nn.Module, tokenizer, prompts: list[list[int]], sampling: Sampling,
                   device: torch.device, generator: torch.Generator | None = None,
                   logprobs: list[list[float]] | None = None) -> list[list[int]]:
    """Continue every prompt until an end id, a stop string or `max_new_tokens`; the sampled ids of each row (the
    id that ended it included). `logprobs`, when a list, receives per row the log-probability of each sampled
    token under the distribution it was drawn from (tempered, untruncated: see the module docstring)."""
    eos = set(sampling.end_ids) or set(end_token_ids(model, tokenizer))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(eos), 0)
    input_ids, attention_mask = left_pad(prompts, pad_id, device)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    cache_argument = _cache_argument(model)
    outputs = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=True,
                    logits_to_keep=1)
    responses: list[list[int]] = [[] for _ in prompts]
    if logprobs is not None:
        logprobs[:] = [[] for _ in prompts]
    scale = score_temperature(sampling.temperature)
    active = list(range(len(prompts)))  # the batch's rows, in order
    finished: set[int] = set()
    next_position = position_ids[:, -1:] + 1
    for _ in range(sampling.max_new_tokens):
        tokens = choose_tokens(outputs.logits[:, -1, :], sampling, generator)
        if logprobs is not None:
            drawn = torch.log_softmax(outputs.logits[:, -1, :].float() / scale, dim=-1).gather(-1, tokens[:, None])
        for slot, (row, token) in enumerate(zip(active, tokens.tolist())):
            if row in finished:
                continue
            responses[row].append(token)
            if logprobs is not None:
                logprobs[row].append(float(drawn[slot, 0]))
            if token in eos or _hits_stop(tokenizer, responses[row], sampling.stop_strings):
                finished.add(row)
        if len(finished) == len(prompts):
            break
        cache = getattr(outputs, "cache", None) or getattr(outputs, "past_key_values", None)
        keep = [slot for slot, row in enumerate(active) if row not in finished]
        if len(keep) < len(active) and hasattr(cache, "batch_select_indices"):
            # Finished rows leave the batch, so the remaining steps only pay for rows still writing.
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            tokens, attention_mask, next_position = tokens[index], attention_mask[index], next_position[index]
            active = [active[slot] for slot in keep]
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(active), 1))], dim=1)
        outputs = model(input_ids=tokens[:, None], attention_mask=attention_mask, position_ids=next_position,
                        use_cache=True, **{cache_argument: cache})
        next_position = next_position + 1
    return responses


def _cache_argument(model: torch.nn.Module) -> str:
    """transformers 5.24 renamed `past_key_values` to `cache`; older and remote-code models keep the old name."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _hits_stop(tokenizer, response: list[int], stop_strings: list[str]) -> bool:
    if not stop_strings:
        return False
    # A stop string can only have been completed by the last few tokens.
    tail = tokenizer.decode(response[-16:], skip_special_tokens=True)
    return any(stop in tail for stop in stop_strings)
