import pytest
import torch

from agile_train.generation import DecodeStep, Sampling, prefix_groups, sample_actions


def test_greedy_sampling_gives_the_same_tokens_as_generate(toy_policy):
    tokenizer, policy = toy_policy
    prompts = [tokenizer(text).input_ids for text in ("Say: red", "Say: blue and then some more", "Say:")]
    ours = sample_actions(policy.model, tokenizer, prompts, Sampling(max_new_tokens=6, temperature=0.0),
                          torch.device("cpu"))
    for prompt, response in zip(prompts, ours):
        reference = policy.model.generate(input_ids=torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt),
                                          dtype=torch.long), max_new_tokens=6, do_sample=False,
                                          pad_token_id=tokenizer.pad_token_id)
        expected = reference[0, len(prompt):].tolist()
        if tokenizer.eos_token_id in expected:
            expected = expected[: expected.index(tokenizer.eos_token_id) + 1]
        assert response == expected


def test_sampling_is_reproducible_with_a_seeded_generator(toy_policy):
    tokenizer, policy = toy_policy
    prompts = [tokenizer("Say: green").input_ids] * 4
    sampling = Sampling(max_new_tokens=5, temperature=1.0, top_p=0.9)
    first = sample_actions(policy.model, tokenizer, prompts, sampling, torch.device("cpu"),
                           torch.Generator().manual_seed(3))
    second = sample_actions(policy.model, tokenizer, prompts, sampling, torch.device("cpu"),
                            torch.Generator().manual_seed(3))
    assert first == second
    assert len({tuple(row) for row in first}) > 1, "four samples at temperature 1 were all identical"


def test_stop_strings_end_an_action(toy_policy):
    tokenizer, policy = toy_policy
    prompts = [tokenizer("Say: red").input_ids] * 6
    free = sample_actions(policy.model, tokenizer, prompts, Sampling(8, 1.0), torch.device("cpu"),
                          torch.Generator().manual_seed(0))
    text = tokenizer.decode(free[0][:2], skip_special_tokens=True)
    stop = text.strip()[:1] or "e"
    stopped = sample_actions(policy.model, tokenizer, prompts, Sampling(8, 1.0, stop_strings=[stop]),
                             torch.device("cpu"), torch.Generator().manual_seed(0))
    for row in stopped:
        decoded = tokenizer.decode(row, skip_special_tokens=True)
        if stop in decoded:
            # Generation ends on the token that completed the stop string.
            assert stop not in tokenizer.decode(row[:-1], skip_special_tokens=True)
    assert stopped[0] == free[0][: len(stopped[0])]
    assert len(stopped[0]) <= 2


def test_rows_that_stop_early_leave_the_batch_without_changing_the_others(toy_policy):
    tokenizer, policy = toy_policy
    prompts = [tokenizer(text).input_ids for text in ("Say: red", "Say: blue blue", "Say: green", "Say:")]
    lone = [sample_actions(policy.model, tokenizer, [p], Sampling(10, 0.0), torch.device("cpu"))[0] for p in prompts]
    # A stop string taken from one row's greedy text ends that row early inside the batch.
    stop = tokenizer.decode(lone[0][:2], skip_special_tokens=True).strip()[-1:] or "e"
    sampling = Sampling(10, 0.0, stop_strings=[stop])
    batched = sample_actions(policy.model, tokenizer, prompts, sampling, torch.device("cpu"))
    alone = [sample_actions(policy.model, tokenizer, [p], sampling, torch.device("cpu"))[0] for p in prompts]
    assert batched == alone
    assert len({len(row) for row in batched}) > 1, "every row stopped at the same step; nothing left the batch"


def _mixed_batch(tokenizer):
    """Prompts of different lengths (so rows are left-padded) and a stop string that ends some rows early."""
    return [tokenizer(text).input_ids for text in ("Say: red", "Say: blue blue and more", "Say: green", "Say:")]


def test_static_and_dynamic_caches_give_the_same_tokens_and_logprobs(toy_policy):
    tokenizer, policy = toy_policy
    prompts = _mixed_batch(tokenizer)
    cpu = torch.device("cpu")
    for sampling in (Sampling(12, 0.0), Sampling(12, 1.0, top_p=0.9), Sampling(12, 1.0, stop_strings=["e"])):
        runs = {}
        for kv_cache in ("dynamic", "static"):
            logprobs: list[list[float]] = []
            generator = torch.Generator().manual_seed(5)
            rows = sample_actions(policy.model, tokenizer, prompts, sampling, cpu, generator, logprobs, kv_cache)
            runs[kv_cache] = rows, logprobs
        (dynamic, dynamic_lp), (static, static_lp) = runs["dynamic"], runs["static"]
        assert static == dynamic, sampling
        for a, b in zip(static_lp, dynamic_lp):
            assert torch.allclose(torch.tensor(a), torch.tensor(b), atol=1e-5), sampling
    assert len({len(row) for row in static}) > 1, "every row stopped at the same step; nothing left the batch"


def test_static_cache_sampler_matches_generate_with_padding(toy_policy):
    tokenizer, policy = toy_policy
    prompts = _mixed_batch(tokenizer)
    ours = sample_actions(policy.model, tokenizer, prompts, Sampling(8, 0.0), torch.device("cpu"), kv_cache="static")
    for prompt, response in zip(prompts, ours):
        reference = policy.model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=8, do_sample=False,
                                          attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                          pad_token_id=tokenizer.pad_token_id)[0, len(prompt):].tolist()
        assert response == reference[: len(response)] and len(response) >= 1


def test_an_unknown_kv_cache_is_refused(toy_policy):
    tokenizer, policy = toy_policy
    with pytest.raises(ValueError, match="kv_cache must be one of"):
        sample_actions(policy.model, tokenizer, [[5, 6]], Sampling(2, 0.0), torch.device("cpu"), kv_cache="paged")


@pytest.mark.slow  # torch.compile takes about 30 s on a 2-core machine
def test_compiled_decode_step_gives_the_eager_greedy_tokens(toy_policy):
    tokenizer, policy = toy_policy
    prompts = _mixed_batch(tokenizer)
    cpu = torch.device("cpu")
    sampling = Sampling(10, 0.0, stop_strings=["e"])
    eager = sample_actions(policy.model, tokenizer, prompts, sampling, cpu, kv_cache="dynamic")
    step = DecodeStep(policy.model, compile=True)
    assert step.cache_length(300) == 512 and step.leaves_batch(2, 4) and not step.leaves_batch(3, 4)
    compiled = sample_actions(policy.model, tokenizer, prompts, sampling, cpu, kv_cache="static", step=step)
    assert compiled == eager


class _NoStaticCache(torch.nn.Module):
    """A model that refuses a StaticCache, as some remote-code models do."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.config = inner, inner.config

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, **kwargs):
        from transformers import StaticCache

        if isinstance(cache, StaticCache):
            raise TypeError("this model takes no StaticCache")
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, cache=cache,
                          **kwargs)


def test_a_model_that_refuses_a_static_cache_samples_with_a_dynamic_one(toy_policy):
    tokenizer, policy = toy_policy
    prompts = _mixed_batch(tokenizer)
    sampling = Sampling(6, 1.0)
    expected = sample_actions(policy.model, tokenizer, prompts, sampling, torch.device("cpu"),
                              torch.Generator().manual_seed(2), kv_cache="dynamic")
    with pytest.warns(UserWarning, match="cannot sample with a static KV cache"):
        got = sample_actions(_NoStaticCache(policy.model), tokenizer, prompts, sampling, torch.device("cpu"),
                             torch.Generator().manual_seed(2))
    assert got == expected


def _sharing_batch(tokenizer) -> list[list[int]]:
    """Prompts as env copies write them: two groups that share long instructions (one group holds a prompt twice
    and a prompt that is the start of another), rows of different lengths, and one prompt that shares nothing."""
    instructions = tokenizer("You are an agent. Reply with one action. " * 4).input_ids
    other = tokenizer("Answer the question with one option letter, then stop. " * 3).input_ids
    return [instructions + tokenizer("Say: red").input_ids, instructions + tokenizer("Say: blue blue").input_ids,
            instructions + tokenizer("Say: red").input_ids, instructions[:-3],
            other + tokenizer("Say: green").input_ids, other + tokenizer("Say: blue and more").input_ids,
            tokenizer("Say:").input_ids]


def test_prefix_groups_find_the_shared_starts():
    prompts = [[1] * 40 + [2, 3], [1] * 40 + [2, 4, 5], [1] * 40, [7] * 40 + [8], [7] * 40 + [9], [1] * 10, [5] * 50]
    groups = prefix_groups(prompts, 32)
    assert sorted(groups) == [([0, 1, 2], 39), ([3, 4], 40)]  # 39: one id short of the shortest prompt of the group
    assert prefix_groups(prompts, 0) == [] and prefix_groups(prompts[:1] + prompts[5:], 32) == []


def test_shared_prefixes_give_the_tokens_and_logprobs_of_the_plain_prefill(toy_policy):
    tokenizer, policy = toy_policy
    prompts = _sharing_batch(tokenizer)
    assert len(prefix_groups(prompts, 32)) == 2, "the batch must exercise two shared groups"
    cpu = torch.device("cpu")
    for sampling in (Sampling(12, 0.0), Sampling(12, 1.0, top_p=0.9), Sampling(12, 1.0, stop_strings=["e"])):
        runs = {}
        for share in (32, 0):
            logprobs: list[list[float]] = []
            rows = sample_actions(policy.model, tokenizer, prompts, sampling, cpu, torch.Generator().manual_seed(5),
                                  logprobs, share_prefix=share)
            runs[share] = rows, logprobs
        (shared, shared_lp), (plain, plain_lp) = runs[32], runs[0]
        assert shared == plain, sampling
        for a, b in zip(shared_lp, plain_lp):
            assert torch.allclose(torch.tensor(a), torch.tensor(b), atol=1e-4), sampling
    greedy = sample_actions(policy.model, tokenizer, prompts, Sampling(8, 0.0), cpu)
    for prompt, response in zip(prompts, greedy):
        reference = policy.model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=8, do_sample=False,
                                          attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                          pad_token_id=tokenizer.pad_token_id)[0, len(prompt):].tolist()
        assert response == reference[: len(response)] and len(response) >= 1


def test_shared_prefixes_fall_back_to_the_plain_prefill_for_a_sliding_window_cache(toy_policy, monkeypatch):
    from agile_train import generation

    tokenizer, policy = toy_policy
    prompts = _sharing_batch(tokenizer)
    expected = sample_actions(policy.model, tokenizer, prompts, Sampling(8, 0.0), torch.device("cpu"),
                              share_prefix=0)
    filled = []

    def refusing(*args, **kwargs):  # what a cache of sliding-window layers answers
        filled.append(True)
        return False

    monkeypatch.setattr(generation, "_fill_prefixes", refusing)
    assert sample_actions(policy.model, tokenizer, prompts, Sampling(8, 0.0), torch.device("cpu")) == expected
    assert filled, "the shared-prefix path was not tried"


def test_shared_prefixes_fall_back_when_the_model_has_no_static_cache(toy_policy, monkeypatch):
    from agile_train import generation

    tokenizer, policy = toy_policy
    prompts = _sharing_batch(tokenizer)
    expected = sample_actions(policy.model, tokenizer, prompts, Sampling(8, 0.0), torch.device("cpu"),
                              kv_cache="dynamic")
    monkeypatch.setattr(generation, "static_cache", lambda model, length: None)  # as for a model that has none
    assert sample_actions(policy.model, tokenizer, prompts, Sampling(8, 0.0), torch.device("cpu")) == expected
