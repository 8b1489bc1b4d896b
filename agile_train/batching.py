"""Batching actions for a forward pass: left-padded contexts, right-padded actions, one column where actions start.

Rollout scoring, the PPO update and SFT all batch (context ids, action ids) pairs the same way, so a token's
log-probability does not depend on which of them computed it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """Rows of context + action ids for one forward pass.

    `input_ids`, `attention_mask`: `[rows, context_width + action_width]` (contexts left-padded);
    `response_ids`, `response_mask`: `[rows, action_width]` (actions right-padded; mask 1 on real tokens).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor

    @property
    def keep(self) -> int:
        """Logit positions to keep: the last context position predicts the first action token, hence one more
        than the action width."""
        return self.response_ids.shape[1] + 1


def collate(prompts: list[list[int]], responses: list[list[int]], pad_id: int, device: torch.device) -> Batch:
    """Prompts left-padded and responses right-padded, so every row's response starts at the same column."""
    prompt_width = max(len(p) for p in prompts)
    response_width = max(1, max(len(r) for r in responses))
    rows = len(prompts)
    input_ids = torch.full((rows, prompt_width + response_width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    response_ids = torch.full((rows, response_width), pad_id, dtype=torch.long)
    response_mask = torch.zeros((rows, response_width))
    for i, (prompt, response) in enumerate(zip(prompts, responses)):
        start = prompt_width - len(prompt)
        input_ids[i, start:prompt_width] = torch.tensor(prompt)
        attention_mask[i, start:prompt_width + len(response)] = 1
        if response:
            input_ids[i, prompt_width:prompt_width + len(response)] = torch.tensor(response)
            response_ids[i, :len(response)] = torch.tensor(response)
            response_mask[i, :len(response)] = 1
    return Batch(input_ids.to(device), attention_mask.to(device), response_ids.to(device), response_mask.to(device))


def response_logprobs(logits: torch.Tensor, batch: Batch, temperature: float = 1.0) -> torch.Tensor:
    """log pi(token) of each action token, `[rows, action_width]` (padding positions hold garbage: mask them),
    pi = softmax(logits / temperature), the distribution the tokens were sampled from (agile_train.generation).

    `logits`: `[rows, >= action_width, vocab]`, the policy's output with `keep=batch.keep`.
    """
    logits = logits[:, : batch.response_ids.shape[1]].float() / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, batch.response_ids[..., None]).squeeze(-1)


def pad_rows(rows: list[torch.Tensor], width: int, device: torch.device) -> torch.Tensor:
    """Per-action 1-d tensors right-padded with zeros into `[len(rows), width]`."""
    out = torch.zeros((len(rows), width))
    for i, row in enumerate(rows):
        out[i, : row.shape[0]] = row
    return out.to(device)
