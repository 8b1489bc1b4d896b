"""Batched sampling with a KV cache, returning the exact token ids that were sampled.

The trainer learns from these ids, never from a re-tokenization of the decoded text: decode-then-encode does
not round-trip in general (merges across the prompt boundary, normalization), and training on different ids
than were sampled silently makes PPO off-policy.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch


@dataclass
class Sampling:
    """How actions are sampled: at most `max_new_tokens` tokens, `temperature` (0 = greedy), nucleus
    `top_p`, and `stop_strings` that end an action besides the EOS token."""

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    stop_strings: list[str] = field(default_factory=list)


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
    """One token per row: greedy at temperature 0, else temperature and nucleus (top-p) sampling."""
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
                   device: torch.device, generator: torch.Generator | None = None) -> list[list[int]]:
    """Continue every prompt until EOS, a stop string or `max_new_tokens`; the sampled ids of each row
    (the EOS token included when it was sampled)."""
    eos_ids = tokenizer.eos_token_id
    eos = set(eos_ids if isinstance(eos_ids, list) else [eos_ids]) - {None}
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(eos), 0)
    input_ids, attention_mask = left_pad(prompts, pad_id, device)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    cache_argument = _cache_argument(model)
    outputs = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=True,
                    logits_to_keep=1)
    responses: list[list[int]] = [[] for _ in prompts]
    active = list(range(len(prompts)))  # the batch's rows, in order
    finished: set[int] = set()
    next_position = position_ids[:, -1:] + 1
    for _ in range(sampling.max_new_tokens):
        tokens = choose_tokens(outputs.logits[:, -1, :], sampling, generator)
        for row, token in zip(active, tokens.tolist()):
            if row in finished:
                continue
            responses[row].append(token)
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
