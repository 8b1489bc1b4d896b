"""`sample_actions` on odd prompt batches for the shared-prefix prefill: every batch gives the tokens and
log-probabilities of the plain prefill (`share_prefix=0`), and an empty batch is an empty answer."""

from __future__ import annotations

import pytest
import torch

from agile_train.generation import Sampling, prefix_groups, sample_actions
from tests.agile_train.conftest import toy_model

VOCAB = 30  # ids below the toy model's 32


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    tokenizer, policy = toy_model(lora_r=0)
    return tokenizer, getattr(policy, "model", policy)


def _ids(count: int, seed: int) -> list[int]:
    return torch.randint(3, VOCAB, (count,), generator=torch.Generator().manual_seed(seed)).tolist()


BASE = _ids(500, 0)
# (case, prompts, shared groups at share_prefix=32)
BATCHES = [
    ("one prompt of 1 token", [[5]], 0),
    ("prompts of 1 token", [[5], [5], [7]], 0),
    ("identical prompts", [BASE[:40]] * 4, 1),
    ("identical prompts one id longer than share_prefix", [BASE[:33]] * 2, 1),
    ("identical prompts of share_prefix ids", [BASE[:32]] * 3, 0),
    ("prompts that are prefixes of one another", [BASE[:400], BASE[:300], BASE[:100], BASE[:33], BASE[:32], BASE[:1]],
     1),
    ("64 prompts sharing 500 ids", [BASE + _ids(1 + n % 19, n + 1) for n in range(64)], 1),
    ("two groups and a loner", [BASE[:50] + [1], BASE[:50] + [2], BASE[100:140] + [3] * 30, BASE[100:140] + [4], [9]],
     2),
]


@pytest.mark.parametrize(("case", "prompts", "groups"), BATCHES, ids=[b[0] for b in BATCHES])
def test_shared_prefill_gives_the_plain_tokens(toy, case, prompts, groups):
    tokenizer, model = toy
    assert len(prefix_groups(prompts, 32)) == groups
    for sampling, shares in ((Sampling(3, 0.0), (32, 1)), (Sampling(3, 1.0, top_p=0.9), (32,))):
        runs = {}
        for share in (*shares, 0):
            logprobs: list[list[float]] = []
            rows = sample_actions(model, tokenizer, prompts, sampling, torch.device("cpu"),
                                  torch.Generator().manual_seed(3), logprobs, share_prefix=share)
            runs[share] = rows, logprobs
        assert len(runs[0][0]) == len(prompts) and all(runs[0][0])
        for share in shares:
            assert runs[share][0] == runs[0][0], (case, share, sampling)
            for a, b in zip(runs[share][1], runs[0][1]):
                assert torch.allclose(torch.tensor(a), torch.tensor(b), atol=1e-4), (case, share)


@pytest.mark.parametrize("kv_cache", ["static", "dynamic"])
def test_no_prompts_is_no_rows(toy, kv_cache):
    tokenizer, model = toy
    logprobs = [[0.5]]
    assert sample_actions(model, tokenizer, [], Sampling(4, 1.0), torch.device("cpu"), logprobs=logprobs,
                          kv_cache=kv_cache) == []
    assert logprobs == []


def test_an_empty_stop_string_ends_no_row(toy):
    tokenizer, model = toy
    prompts = [BASE[:40], BASE[:40] + [4]]
    rows = [sample_actions(model, tokenizer, prompts, Sampling(5, 0.0, stop_strings=stops), torch.device("cpu"))
            for stops in ([], [""])]
    assert rows[0] == rows[1] and max(len(row) for row in rows[1]) > 1  # "" matched every text: one token a row
