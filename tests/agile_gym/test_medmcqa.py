import json
import warnings

import gymnasium as gym
import pytest

import agile_gym  # noqa: F401
from agile_gym.agents import AlwaysAdviceAgent, OracleAgent, play_session
from agile_gym.data.medmcqa import DataQualityWarning, load_questions, read_records
from agile_gym.data.types import DataError
from agile_gym.envs.medmcqa import choose_option

PUBLIC = {"id": "q1", "question": "Scurvy is caused by lack of:", "opa": "Vitamin A", "opb": "Vitamin C",
          "opc": "Vitamin D", "opd": "Vitamin K", "cop": 1, "exp": "Collagen needs vitamin C.",
          "subject_name": "", "topic_name": "", "choice_type": "single"}
AGILE = {"id": "q1", "question": "Scurvy is caused by lack of:", "answer": "B", "exp": "Collagen needs vitamin C.",
         "options": {"A": "Vitamin A", "B": "Vitamin C", "C": "Vitamin D", "D": "Vitamin K"}, "source": "mcq"}


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_both_schemas_load_to_the_same_questions(tmp_path):
    public = load_questions(read_records(write_jsonl(tmp_path / "p.jsonl", [PUBLIC])), "p")[0]
    agile = load_questions(read_records(write_jsonl(tmp_path / "a.jsonl", [AGILE])), "a")[0]
    for field in ("id", "question", "gold_short", "gold_long", "options", "knowledge", "type"):
        assert getattr(public, field) == getattr(agile, field), field
    assert public.gold_short == "B" and public.options[1] == ("B", "Vitamin C")


@pytest.mark.parametrize("answer", ["B", "b", "(B)", "B.", "B)", "B) Vitamin C", "(b) vitamin c", "B: Vitamin C",
                                    "Vitamin C", "  vitamin   c "])
def test_every_accepted_form_of_the_gold_letter_scores_one(tmp_path, answer):
    env = gym.make("agile/MedMCQA-v2", data_files=write_jsonl(tmp_path / "p.jsonl", [PUBLIC]))
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(f"[PredictAnswer]\n[Answer]: {answer}")
    assert reward == 1.0 and terminated and not info["result"]["invalid_action"]


@pytest.mark.parametrize("answer", ["E", "B or C", "Vitamin", "A patient with scurvy", "none of these", "BC"])
def test_answers_naming_no_single_option_are_invalid(answer):
    options = tuple(zip("ABCD", ("Vitamin A", "Vitamin C", "Vitamin D", "Vitamin K")))
    assert choose_option(answer, options) is None


def test_wrong_option_scores_zero_and_five_options_work(tmp_path):
    five = {**AGILE, "options": {**AGILE["options"], "E": "Vitamin E"}, "answer": "E"}
    env = gym.make("agile/MedMCQA-v2", data_files=write_jsonl(tmp_path / "a.jsonl", [AGILE, five]))
    _, info = env.reset(seed=0)
    assert info["question"]["options"]["B"] == "Vitamin C"
    assert env.step("[PredictAnswer]\n[Answer]: C")[1] == 0.0
    assert env.step("[PredictAnswer]\n[Answer]: E) Vitamin E")[1] == 1.0


def test_always_advice_scores_one_minus_cost_and_oracle_one():
    env = gym.make("agile/MedMCQA-v2")
    assert env.unwrapped.advice_cost == 0.4
    assert play_session(env, AlwaysAdviceAgent(), seed=0)["total_score"] == pytest.approx(0.6)
    assert play_session(env, OracleAgent(env), seed=0)["accuracy"] == 1.0


def test_advice_then_reflection_lets_memory_answer_the_paraphrase():
    env = gym.make("agile/MedMCQA-v2", max_questions=40)
    obs, info = env.reset(seed=0)
    first = info["question"]["text"]
    obs, reward, *_, info = env.step("[SeekAdvice]")
    assert reward == pytest.approx(0.6) and info["phase"] == "reflect" and "The correct option is" in obs
    obs, *_, info = env.step("[Reflection]: Vitamin C is needed for collagen synthesis; its lack causes scurvy.")
    while "scurvy" not in info["question"]["text"].lower() or info["question"]["text"] == first:
        obs, *_, info = env.step("[PredictAnswer]\n[Answer]: A")
    assert any("scurvy" in k["text"] for k in info["memory"]["knowledge"])
    assert any("scurvy" in h["question"].lower() for h in info["memory"]["history"])


@pytest.mark.parametrize("change, message", [
    ({"opc": ""}, r"record 1, id q2\): missing option\(s\) opc"),
    ({"cop": 4}, r"record 1, id q2\): cop must be the correct option's index 0-3, got 4"),
    ({"question": "  "}, r"record 1, id q2\): empty question"),
])
def test_broken_records_give_errors_naming_the_record(tmp_path, change, message):
    path = write_jsonl(tmp_path / "p.jsonl", [PUBLIC, {**PUBLIC, "id": "q2", **change}])
    with pytest.raises(DataError, match=message):
        gym.make("agile/MedMCQA-v2", data_files=path)


def test_data_quality_problems_warn_with_counts(tmp_path):
    all_d = [{**PUBLIC, "id": f"q{i}", "cop": 3} for i in range(25)]
    with pytest.warns(DataQualityWarning, match="every one of 25 answers is 'D'"):
        load_questions(read_records(write_jsonl(tmp_path / "d.jsonl", all_d)), "d")
    outside = {**AGILE, "answer": "F"}
    duplicate = {**AGILE, "options": {"A": "x", "B": "X", "C": "y", "D": "z"}}
    with pytest.warns(DataQualityWarning, match=r"1 answer\(s\) name no option.*1 question\(s\) have duplicate"):
        questions = load_questions(read_records(write_jsonl(tmp_path / "o.jsonl", [AGILE, outside, duplicate])), "o")
    assert len(questions) == 2


def test_parquet_and_datasets_folders_load(tmp_path):
    import datasets

    dataset = datasets.Dataset.from_list([PUBLIC, {**PUBLIC, "id": "q2", "cop": 0}])
    dataset.to_parquet(str(tmp_path / "dev.parquet"))
    from_parquet = gym.make("agile/MedMCQA-v2", data_files=[tmp_path / "dev.parquet"]).unwrapped.questions
    dataset.save_to_disk(str(tmp_path / "saved"))
    from_disk = gym.make("agile/MedMCQA-v2", hf_dataset=str(tmp_path / "saved"), split="validation").unwrapped.questions
    datasets.DatasetDict({"validation": dataset}).save_to_disk(str(tmp_path / "saved_dict"))
    from_dict = gym.make("agile/MedMCQA-v2", hf_dataset=str(tmp_path / "saved_dict")).unwrapped.questions
    (tmp_path / "hub_like").mkdir()
    dataset.to_json(str(tmp_path / "hub_like" / "validation.jsonl"))
    from_load_dataset = gym.make("agile/MedMCQA-v2", hf_dataset=str(tmp_path / "hub_like"), split="validation")
    expected = [("q1", "B"), ("q2", "A")]
    for questions in (from_parquet, from_disk, from_dict, from_load_dataset.unwrapped.questions):
        assert [(q.id, q.gold_short) for q in questions] == expected


def test_ids_default_to_positions_and_memory_init_is_reloaded_at_every_reset(tmp_path):
    no_ids = [{k: v for k, v in PUBLIC.items() if k != "id"}] * 3
    memory = write_jsonl(tmp_path / "m.jsonl", [AGILE, {**AGILE, "reflection": "Scurvy means vitamin C lack."}])
    env = gym.make("agile/MedMCQA-v2", data_files=write_jsonl(tmp_path / "p.jsonl", no_ids), memory_init=memory)
    _, info = env.reset(seed=0)
    assert info["question"]["id"] == "0"
    core = env.unwrapped
    assert core.memory.history_size() == 2 and core.memory.knowledge_size() == 2
    assert "Scurvy means vitamin C lack." in {k["text"] for k in info["memory"]["knowledge"]}
    env.step("[SeekAdvice]")
    env.step("[Reflection]: new knowledge")
    env.step("[PredictAnswer]\n[Answer]: B")
    assert core.memory.history_size() == 4 and core.memory.knowledge_size() == 3
    env.reset(seed=0)
    assert core.memory.history_size() == 2 and core.memory.knowledge_size() == 2


@pytest.mark.real_data
def test_real_medmcqa_and_medqa_files_load_and_play(medmcqa_root):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = gym.make("agile/MedMCQA-v2", data_files=medmcqa_root / "medmcqa_dev_part.jsonl",
                       memory_init=medmcqa_root / "agile_med_ref.jsonl")
    assert len(env.unwrapped.questions) == 2000
    assert all("labels look broken" not in str(w.message) for w in caught)
    assert env.unwrapped.memory.history_size() == 1272
    assert play_session(env, OracleAgent(env), seed=0)["accuracy"] == 1.0
    medqa = gym.make("agile/MedMCQA-v2", data_files=medmcqa_root / "agile_med_ref.jsonl").unwrapped.questions
    assert len(medqa) == 1272 and all(len(q.options) == 5 for q in medqa)
    assert all(q.knowledge for q in medqa)
