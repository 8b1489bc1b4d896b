"""Multiple-choice answers in every common form that names one option are graded; answers naming none or
several are refused with feedback and reward 0 (issue 17)."""

import json
import time

import gymnasium as gym
import pytest

import agile_gym  # noqa: F401
from agile_gym.data.medmcqa import load_questions, read_records
from agile_gym.envs.medmcqa import choose_option, named_options

OPTIONS = tuple(zip("ABCD", ("Vitamin A", "Vitamin C", "Vitamin D", "Vitamin K")))
RECORD = {"id": "q1", "question": "Scurvy is caused by lack of:", "opa": "Vitamin A", "opb": "Vitamin C",
          "opc": "Vitamin D", "opd": "Vitamin K", "cop": 1, "exp": "Collagen needs vitamin C.",
          "subject_name": "", "topic_name": "", "choice_type": "single"}

ACCEPTED = [
    "B", "b", "(B)", "B)", "[B]", "B.", "B:", "**B**", "*B*", "`B`",
    "B\nCollagen synthesis needs vitamin C.", "B.\nCollagen synthesis needs vitamin C.",
    "B - Vitamin C", "B, Vitamin C", "B) Vitamin C", "(b) vitamin c", "B: Vitamin C", "B Vitamin C",
    "Option B", "option (b)", "Options: B", "The answer is B", "The answer is B.", "Answer: B", "Answer - B",
    "**Answer:** B", "Final answer: **B**", "The correct answer is (B) Vitamin C", "The correct option is B.",
    "I think B", "I believe the answer is (B)", "B because collagen needs it", "B is correct",
    "B. A deficiency of vitamin C impairs collagen.", "B\nC is wrong: vitamin D is about calcium.",
    "Vitamin C", "  vitamin   c ", "Vitamin C.", "**Vitamin C**", "The answer is Vitamin C", "Vitamin C (B)",
]

REFUSED = [
    # no option
    ("", ()), ("E", ()), ("Vitamin", ()), ("A patient with scurvy", ()), ("none of these", ()), ("BC", ()),
    ("B12", ()), ("The answer is", ()), ("I don't know", ()), ("Vitamin C or Vitamin K", ()),
    # several options
    ("B or C", ("B", "C")), ("B and C", ("B", "C")), ("B, C", ("B", "C")), ("B/C", ("B", "C")),
    ("A, B and C", ("A", "B", "C")), ("Options B and C", ("B", "C")), ("(B) and (C)", ("B", "C")),
    ("The answer is B or D", ("B", "D")),
    # a letter and another option's text contradict each other
    ("B) Vitamin A", ("B", "A")), ("Vitamin C (A)", ("A", "B")),
]


@pytest.mark.parametrize("answer", ACCEPTED)
def test_every_form_naming_one_option_is_read_as_it(answer):
    assert named_options(answer, OPTIONS) == ("B",)
    assert choose_option(answer, OPTIONS) == "B"


@pytest.mark.parametrize("answer, named", REFUSED)
def test_answers_naming_none_or_several_options_are_refused(answer, named):
    assert named_options(answer, OPTIONS) == named
    assert choose_option(answer, OPTIONS) is None


def test_option_texts_that_look_like_letter_lists_are_their_own_option():
    # Ordering questions of the release: every option is a letter sequence.
    options = tuple(zip("ABCD", ("a,c,d,b", "b,c,a,d", "d,a,c,b", "c,a,b,d")))
    assert named_options("a,c,d,b", options) == ("A",)
    assert named_options("A) a,c,d,b", options) == ("A",)
    assert named_options("B) a,c,d,b", options) == ("B", "A")


def test_long_hostile_answers_are_read_in_linear_time():
    # Each takes ~0.1 s here; a backtracking pattern or re-slicing the rest per letter would be quadratic.
    for answer, named in [("(" * 200_000, ()), ("B" + ", C" * 100_000, ("B", "C")), ("Vitamin C (" * 50_000, ()),
                          ("B" + " " * 200_000 + "C", ("B", "C"))]:
        started = time.perf_counter()
        assert named_options(answer, OPTIONS) == named
        assert time.perf_counter() - started < 5.0


@pytest.fixture
def env(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(RECORD) + "\n")
    return gym.make("agile/MedMCQA-v2", data_files=path)


@pytest.mark.parametrize("message", [
    "[PredictAnswer]\n[Answer]: B\nCollagen synthesis needs vitamin C.",
    "Scurvy means no collagen.\n[PredictAnswer]\n[Answer]: The answer is **B**",
    "[PredictAnswer]\n[Answer]: Scurvy: vitamin C.\n[Short Answer]: Option B",
    "[PredictAnswer]\n[Answer]: B - Vitamin C\n[Reflection]: ignored, the first action tag decides",
])
def test_whole_agent_messages_through_the_parser_score_one(env, message):
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(message)
    assert reward == 1.0 and terminated and info["result"]["correct"] and not info["result"]["invalid_action"]


@pytest.mark.parametrize("answer, feedback", [
    ("B or C", "Your answer names several options (B, C); name exactly one of A, B, C, D."),
    ("A patient with scurvy", "Your answer names no option; name exactly one of A, B, C, D."),
])
def test_a_refused_answer_is_invalid_with_reward_zero_and_says_why(env, answer, feedback):
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(f"[PredictAnswer]\n[Answer]: {answer}")
    assert reward == 0.0 and terminated and info["result"]["invalid_action"] and not info["result"]["correct"]
    assert info["result"]["feedback"].startswith(feedback)


def test_a_wrong_option_in_a_new_form_is_wrong_not_invalid(env):
    env.reset(seed=0)
    _, reward, _, _, info = env.step("[PredictAnswer]\n[Answer]: The answer is **C**\nVitamin D is ...")
    assert reward == 0.0 and not info["result"]["correct"] and not info["result"]["invalid_action"]


@pytest.mark.real_data
@pytest.mark.filterwarnings("ignore:.*duplicate options")  # 13 dev questions repeat an option's text (known)
def test_every_real_question_reads_its_gold_option_in_each_form(medmcqa_root):
    files = sorted(medmcqa_root.glob("*.jsonl"))
    questions = [q for f in files for q in load_questions(read_records(f), str(f))]
    assert len(questions) > 3000
    misread = []
    for q in questions:
        gold, text = q.gold_short, dict(q.options)[q.gold_short]
        forms = [gold, f"{gold}) {text}", f"{gold}\n{q.gold_long}", f"The answer is {gold}.", f"**{gold}**",
                 f"Option {gold} - {text}"]
        if [t for _, t in q.options].count(text) == 1:
            forms.append(text)
        misread += [(q.id, form) for form in forms if choose_option(form, q.options) != gold]
    assert misread == []
