"""Playing policies for `benchmarks.fidelity`: greedy evaluation sessions with the generator's ground truth of
what each prompt shows, the teacher's ask-or-answer choices on a validation category, and a policy's
inclination to ask (log-probability of "[SeekAdvice]") for the pilot gate's AUC."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gymnasium as gym

from agile_gym.actions import SEEK_ADVICE, action_name, parse_action
from agile_gym.contract import ANSWER_PHASE, INDEX, PHASE, QUESTION, RESULT, SCORED, SESSION_LENGTH
from agile_gym.episodes import Step, play_episodes


def play_policy(envs: list[gym.Env], policy_dir: Path, model, seed: int, seeds: list[int]) -> list[list[dict]]:
    """Greedy sessions of the policy in `policy_dir`, one per env, side by side; per session its scored
    questions as records (benchmarks.fidelity_stats) without `order` and `category`. Visibility is the env's
    ground truth (`env.unwrapped.expert().answer_visible`, None where the env has none), read at each
    question's first observation, before the policy acts."""
    from agile_train.policy_agent import PolicyAgent

    agent = PolicyAgent(dataclasses.replace(model, model=str(policy_dir.resolve())), seed=seed)
    visible: list[dict[int, bool | None]] = [{} for _ in envs]
    records: list[list[dict]] = [[] for _ in envs]

    def act(episodes: list[int], observations: list[str], infos: list[dict]) -> list:
        for episode, info in zip(episodes, infos):
            if info.get(PHASE) == ANSWER_PHASE and info[QUESTION][INDEX] not in visible[episode]:
                view = envs[episode].unwrapped.expert()
                visible[episode][info[QUESTION][INDEX]] = getattr(view, "answer_visible", None)
        return agent.act_batch(observations, infos)

    def record(step: Step) -> None:
        result = step.next_info.get(RESULT, {})
        if result.get(SCORED):
            question = step.info[QUESTION]
            records[step.episode].append({
                "id": result["question_id"], "index": question[INDEX], "length": question[SESSION_LENGTH],
                "advised": int(result["advised"]), "correct": int(result["correct"]),
                "invalid": int(result["invalid_action"]), "reward": float(result["reward"]),
                "visible": visible[step.episode].get(question[INDEX])})

    play_episodes(envs, act, seeds=seeds, close=True, on_step=record)
    return records


def teacher_decisions(env: gym.Env, seed: int) -> tuple[list[str], list[bool], list[bool | None]]:
    """The expert's session on `env`: each answer-phase prompt where it chose to ask or to answer (its searches,
    which need no judgement of what the prompt shows, are left out), whether it asked, and the ground truth
    visibility (None where the env has none)."""
    from agile_gym.agents import ExpertAgent

    expert = ExpertAgent(env, seed=seed)
    prompts, asked, visible = [], [], []

    def act(_: list[int], observations: list[str], infos: list[dict]) -> list[str]:
        action = expert.act(observations[0], infos[0])
        name = action_name(parse_action(action))
        if infos[0].get(PHASE) == ANSWER_PHASE and name != "SearchProduct":
            prompts.append(observations[0])
            asked.append(name == "SeekAdvice")
            visible.append(getattr(env.unwrapped.expert(), "answer_visible", None))
        return [action]

    play_episodes([env], act, seeds=[seed], close=True)
    return prompts, asked, visible


def ask_scores(policy_dir: Path, model, prompts: list[str], batch_size: int = 8) -> list[float]:
    """log pi("[SeekAdvice]" and its end token | prompt) under the policy: its inclination to ask."""
    import torch

    from agile_train.batching import collate, response_logprobs
    from agile_train.policy_agent import PolicyAgent

    agent = PolicyAgent(dataclasses.replace(model, model=str(policy_dir.resolve())))
    tokenizer = agent.tokenizer
    ask = tokenizer(SEEK_ADVICE, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    scores: list[float] = []
    with torch.no_grad():
        for start in range(0, len(prompts), batch_size):
            chunk = [agent.encoder.encode(prompt, None) for prompt in prompts[start:start + batch_size]]
            batch = collate(chunk, [ask] * len(chunk), tokenizer.pad_token_id, agent.device)
            logits, _ = agent.policy(batch.input_ids, batch.attention_mask, batch.keep, with_values=False)
            scores += (response_logprobs(logits, batch) * batch.response_mask).sum(-1).tolist()
    return scores
