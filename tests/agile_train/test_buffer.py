import pytest
import torch

from agile_train.batching import collate, response_logprobs
from agile_train.buffer import RolloutBuffer
from agile_train.env_factory import make_envs
from agile_train.losses import masked_mean
from agile_train.rollout import PromptEncoder, Segment, Turn
from tests.agile_train.conftest import TOY_ENV, collect

CPU = torch.device("cpu")


def test_only_action_tokens_get_gradient(toy_policy):
    """The env's text is context: the loss must not depend on how well the model predicts it."""
    tokenizer, policy = toy_policy
    prompts = [tokenizer("Say: red").input_ids, tokenizer("Say: blue blue blue").input_ids]
    responses = [[5, 6, 7], [8]]
    batch = collate(prompts, responses, tokenizer.pad_token_id, CPU)
    width = batch.input_ids.shape[1]
    logits, _ = policy(batch.input_ids, batch.attention_mask, keep=width)
    logits.retain_grad()
    window = logits[:, -batch.keep:]
    loss = -masked_mean(response_logprobs(window, batch), batch.response_mask)
    loss.backward()
    grad = logits.grad.abs().sum(-1)
    response_width = batch.response_ids.shape[1]
    first_predicting_response = width - response_width - 1
    assert grad[:, :first_predicting_response].sum() == 0, "prompt positions received gradient"
    # Row 0 predicts its 3 action tokens; row 1 only its single one (the rest is padding).
    assert (grad[0, first_predicting_response:first_predicting_response + 3] > 0).all()
    assert (grad[1, first_predicting_response] > 0) and grad[1, first_predicting_response + 1:].sum() == 0


def test_response_logprobs_are_those_of_the_sampled_tokens(toy_policy):
    tokenizer, policy = toy_policy
    prompt, response = tokenizer("Say: green").input_ids, [9, 4, 11]
    batch = collate([prompt, tokenizer("Say:").input_ids], [response, [3]], tokenizer.pad_token_id, CPU)
    logits, _ = policy(batch.input_ids, batch.attention_mask, batch.keep)
    ours = response_logprobs(logits, batch)[0]
    with torch.no_grad():
        full = policy.model(input_ids=torch.tensor([prompt + response])).logits[0].log_softmax(-1)
    expected = [full[len(prompt) - 1 + i, token].item() for i, token in enumerate(response)]
    assert torch.allclose(ours.detach(), torch.tensor(expected), atol=1e-5)


def test_kl_to_the_adapter_disabled_reference_is_zero_at_initialization(toy_policy):
    tokenizer, policy = toy_policy
    assert policy.is_peft
    segments = [Segment(0, [Turn(tokenizer("Say: red").input_ids, [5, 6, 7], 1.0)], terminal=True)]
    sample = RolloutBuffer.score(policy, segments, 4, tokenizer.pad_token_id, CPU).segments[0][0]
    assert torch.allclose(sample.old_logprobs, sample.ref_logprobs, atol=1e-6)
    # Perturbing the adapter moves the policy but not the reference.
    lora = [p for name, p in policy.named_parameters() if "lora_B" in name]
    saved = [p.detach().clone() for p in lora]
    with torch.no_grad():
        for p in lora:
            p.add_(0.5)
    try:
        moved = RolloutBuffer.score(policy, segments, 4, tokenizer.pad_token_id, CPU).segments
        assert torch.allclose(moved[0][0].ref_logprobs, sample.ref_logprobs, atol=1e-6)
        assert not torch.allclose(moved[0][0].old_logprobs, sample.ref_logprobs, atol=1e-3)
    finally:
        with torch.no_grad():
            for p, value in zip(lora, saved):
                p.copy_(value)


def _collect(toy_policy, bootstrap: bool):
    tokenizer, policy = toy_policy
    envs = make_envs(TOY_ENV, {"length": 6, "segment_every": 2}, 2)
    return collect(tokenizer, policy, envs, 5, new_tokens=2, bootstrap_terminal_segments=bootstrap)


def test_segments_split_at_segment_end_and_bootstrap_from_the_next_session(toy_policy):
    tokenizer, _ = toy_policy
    segments, stats, generated = _collect(toy_policy, bootstrap=True)
    # Each env: steps 1-2 and 3-4 close at segment_end, step 5 is cut by the rollout's end.
    assert [len(s.turns) for s in segments] == [2, 2, 1, 2, 2, 1]
    assert all(not s.terminal and s.bootstrap_ids for s in segments)
    assert segments[0].bootstrap_ids == segments[1].turns[0].prompt_ids, "bootstrap is not the next session's state"
    assert len(stats.rewards) == 10 and generated == sum(len(t.response_ids) for s in segments for t in s.turns)
    terminal, _, _ = _collect(toy_policy, bootstrap=False)
    assert [s.terminal for s in terminal] == [True, True, False, True, True, False]


@pytest.mark.parametrize("credit", ["action", "token"])
def test_gae_bootstraps_cut_segments_and_not_terminal_ones(toy_policy, credit):
    tokenizer, policy = toy_policy
    prompt = tokenizer("Say: red").input_ids
    cut = Segment(0, [Turn(prompt, [5], 0.0)], terminal=False, bootstrap_ids=tokenizer("Say: blue").input_ids)
    end = Segment(1, [Turn(prompt, [5], 0.0)], terminal=True)
    with torch.no_grad():
        policy.value_head.bias.fill_(0.25)
    try:
        buffer = RolloutBuffer.score(policy, [cut, end], 4, tokenizer.pad_token_id, CPU)
        buffer.compute_advantages(kl_coef=0.0, gamma=1.0, lam=1.0, whiten=False, credit=credit)
        next_values, samples = buffer.next_values, buffer.samples
    finally:
        with torch.no_grad():
            policy.value_head.bias.zero_()
    assert next_values == [0.25, 0.0]
    assert samples[0].returns.tolist() == [0.25] and samples[1].returns.tolist() == [0.0]


def test_a_slow_env_step_does_not_stall_the_other_copies(toy_policy):
    import threading

    from tests.agile_train.toy_env import WaitingEnv

    tokenizer, policy = toy_policy
    shared = {"event": threading.Event(), "lock": threading.Lock()}
    envs = [WaitingEnv(i, shared, steps=3, copies=3) for i in range(3)]
    segments, stats, _ = collect(tokenizer, policy, envs, 3, new_tokens=1, bootstrap_terminal_segments=True,
                                 env_wait_s=0.01)
    assert shared["released"], "copy 0 was only released by its timeout: the rollout waited for it"
    assert sorted(len(s.turns) for s in segments) == [3, 3, 3] and len(stats.rewards) == 9


def test_concat_context_extends_the_sampled_ids_and_restarts_at_segment_end(toy_policy):
    tokenizer, policy = toy_policy
    envs = make_envs(TOY_ENV, {"length": 6, "segment_every": 3}, 1)
    segments, _, _ = collect(tokenizer, policy, envs, 4, new_tokens=3, context="concat", prompt_tokens=512,
                             bootstrap_terminal_segments=True)
    first, second = segments
    turns = first.turns
    for previous, current in zip(turns, turns[1:]):
        context = previous.prompt_ids + previous.response_ids
        assert current.prompt_ids[: len(context)] == context, "the next prompt does not extend the sampled ids"
    assert len(second.turns[0].prompt_ids) < len(turns[-1].prompt_ids), "a new segment did not start a new context"


def test_adaptive_kl_coefficient_moves_toward_the_target():
    from agile_train.advantages import KLController

    fixed = KLController(0.1, target=0.0, horizon=100)
    fixed.update(kl=5.0, actions=50)
    assert fixed.coef == 0.1
    adaptive = KLController(0.1, target=1.0, horizon=100)
    adaptive.update(kl=5.0, actions=50)
    assert adaptive.coef == pytest.approx(0.1 * 1.1)
    adaptive.update(kl=0.0, actions=50)
    assert adaptive.coef == pytest.approx(0.1 * 1.1 * 0.9)


def test_chat_template_wraps_the_observation_and_refuses_concat(toy_policy):
    import copy

    tokenizer, _ = toy_policy
    templated = copy.deepcopy(tokenizer)
    templated.chat_template = ("{% for m in messages %}Say: {{ m['content'] }}{% endfor %}"
                               "{% if add_generation_prompt %} red{% endif %}")
    encoder = PromptEncoder(templated, "auto", "last", 64)
    assert encoder.use_template
    expected = templated("Say: green red", add_special_tokens=False).input_ids
    assert encoder.encode("green", None) == expected
    assert PromptEncoder(templated, "off", "last", 64).encode("green", None) == tokenizer("green\n").input_ids
    with pytest.raises(ValueError, match="concat with a chat template"):
        PromptEncoder(templated, "auto", "concat", 64)
    with pytest.raises(ValueError, match="no chat template"):
        PromptEncoder(tokenizer, "on", "last", 64)
