import torch

from agile_train.generation import Sampling, sample_actions


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
