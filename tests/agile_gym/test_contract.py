"""The typed info contract (agile_gym.contract) is exactly what every registered env writes."""

import typing

import gymnasium as gym
import pytest

import agile_gym
from agile_gym import contract
from agile_gym.wrappers import SessionAdvantage

ENV_IDS = sorted(agile_gym.ENVIRONMENTS)
PARTS = (
    contract.Info, contract.StepInfo, contract.SessionAdvantageInfo, contract.QuestionInfo, contract.MemoryInfo,
    contract.HistoryEntryInfo, contract.KnowledgeEntryInfo, contract.ResultInfo, contract.MetricsInfo,
    contract.TypeMetricsInfo,
)
KEY_CONSTANTS = {name: value for name, value in vars(contract).items()
                 if name.isupper() and not name.endswith("_PHASE") and isinstance(value, str)}


def keys(part) -> set[str]:
    return set(part.__required_keys__ | part.__optional_keys__)


def test_every_key_has_one_constant_named_after_it_and_every_constant_is_a_key():
    assert all(name == value.upper() for name, value in KEY_CONSTANTS.items()), KEY_CONSTANTS
    assert set(KEY_CONSTANTS.values()) == set().union(*map(keys, PARTS))
    assert set(KEY_CONSTANTS) | {"ANSWER_PHASE", "REFLECT_PHASE"} <= set(contract.__all__)
    assert set(typing.get_args(contract.Phase)) == {contract.ANSWER_PHASE, contract.REFLECT_PHASE}


def test_every_prompt_field_is_a_path_through_the_info_contract():
    for path in contract.PROMPT_FIELDS:
        part = contract.Info
        for key in path:
            assert key in keys(part), (path, key, part.__name__)
            hint = typing.get_type_hints(part)[key]
            part = typing.get_args(hint)[0] if typing.get_origin(hint) is list else hint
    assert (contract.QUESTION, contract.ID) not in contract.PROMPT_FIELDS
    assert not any(contract.SCORE in path for path in contract.PROMPT_FIELDS)


def test_only_the_task_keys_of_a_question_are_optional():
    assert contract.QuestionInfo.__optional_keys__ == {contract.PRODUCT, contract.OPTIONS}
    assert all(not part.__optional_keys__ for part in PARTS if part is not contract.QuestionInfo)


def check(value, part) -> None:
    """`value` has exactly the keys of TypedDict `part` (its optional ones allowed), recursively for parts."""
    assert isinstance(value, dict)
    if part is contract.QuestionInfo and not value:
        return  # the documented exception: {} once the session is over
    assert part.__required_keys__ <= value.keys() <= keys(part), (part.__name__, sorted(value))
    hints = typing.get_type_hints(part)
    for key, item in value.items():
        hint = hints[key]
        if hint in PARTS:
            check(item, hint)
        elif typing.get_origin(hint) is list and typing.get_args(hint)[0] in PARTS:
            for entry in item:
                check(entry, typing.get_args(hint)[0])
        elif hint == dict[str, contract.TypeMetricsInfo]:
            for per_type in item.values():
                check(per_type, contract.TypeMetricsInfo)
        elif typing.get_origin(hint) is typing.Literal:
            assert item in typing.get_args(hint), (key, item)
        elif hint is float:
            assert isinstance(item, (int, float)) and not isinstance(item, bool), (key, item)
        elif typing.get_origin(hint) is None:
            assert isinstance(item, hint), (key, item, hint)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_reset_and_step_infos_follow_the_contract_through_a_whole_session(env_id):
    env = SessionAdvantage(gym.make(env_id, max_questions=8))
    _, info = env.reset(seed=0)
    check(info, contract.Info)
    assert info[contract.QUESTION]
    actions = ["[SeekAdvice]", "[Reflection]: remember the answer", "[PredictAnswer]\n[Answer]: yes",
               "[SearchProduct]\n[SQL]: SELECT product_id FROM nowhere", "no tag at all"]
    seen_memory, done, step = False, False, 0
    while not done:
        _, _, terminated, truncated, info = env.step(actions[step % len(actions)])
        step, done = step + 1, terminated or truncated
        check(info, contract.SessionAdvantageInfo)
        seen_memory = seen_memory or bool(info[contract.MEMORY][contract.HISTORY])
    assert seen_memory, "no history entry was ever checked"
    assert info[contract.QUESTION] == {} and info[contract.METRICS][contract.PER_TYPE]


def test_the_checker_catches_a_missing_key_and_a_wrong_type():
    env = gym.make("agile/MedMCQA-v2")
    _, info = env.reset(seed=0)
    *_, info = env.step("[SeekAdvice]")
    check(info, contract.StepInfo)
    del info[contract.RESULT][contract.SCORED]
    with pytest.raises(AssertionError):
        check(info, contract.StepInfo)
    _, info = env.reset(seed=0)
    info[contract.METRICS][contract.QUESTIONS] = "0"
    with pytest.raises(AssertionError):
        check(info, contract.Info)
