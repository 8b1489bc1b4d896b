"""Search answers are graded by product identity (issue 17): asin, or full title longest-first at word
boundaries; a shared title names every product with it. Synthetic tests always run; the real-release ones
skip with a visible reason when `$AGILE_DATA_DIR` has no ProductQA release."""

import json
import time

import gymnasium as gym
import pytest

import agile_gym  # noqa: F401
from agile_gym.data.productqa import load_category
from agile_gym.grading import ProductNames, search_correct
from benchmarks.search_grading import main, measure

SCALE, SCALE_RED = "B000000001", "B000000002"
GL2, GL2E2 = "B000000003", "B000000004"
TWIN_A, TWIN_B = "B000000005", "B000000006"
WIPER = "B000000007"
PRODUCTS = {
    SCALE: {"title": "EatSmart Precision Pro Digital Kitchen Scale", "price": 20},
    SCALE_RED: {"title": "EatSmart Precision Pro Digital Kitchen Scale, Red", "price": 22},
    GL2: {"title": "Fobus Glock - GL2", "price": 30},
    GL2E2: {"title": "Fobus Glock - GL2E2", "price": 31},
    TWIN_A: {"title": "Twin Kettle", "price": 40},
    TWIN_B: {"title": "Twin Kettle", "price": 45},
    WIPER: {"title": "Wiper Blade 17&quot; (Pack of 2)", "price": 9},
}
NAMES = ProductNames(PRODUCTS)
RED = PRODUCTS[SCALE_RED]["title"]


@pytest.mark.parametrize("answer, named", [
    # A title inside a longer title that the answer holds is not a second product.
    (RED, [SCALE_RED]),
    ("EatSmart Precision Pro Digital Kitchen Scale", [SCALE]),
    ("Fobus Glock - GL2E2", [GL2E2]),
    ("Fobus Glock - GL2", [GL2]),
    ("Fobus Glock - GL2 or Fobus Glock - GL2E2", [GL2, GL2E2]),
    # Word boundaries: a title glued to more letters or digits is not that title.
    ("Fobus Glock - GL2X", []),
    ("Fobus Glock - GL2, in black", [GL2]),
    # The env's own `ASIN (title)` form and the release's long answer name the product once.
    (f"{SCALE_RED} ({RED})", [SCALE_RED]),
    (f"{GL2E2} (Fobus Glock - GL2E2); {SCALE} (EatSmart Precision Pro Digital Kitchen Scale)", [GL2E2, SCALE]),
    (f"The best option is:\n`{RED}` with asin: {SCALE_RED}", [SCALE_RED]),
    # Casefolded and whitespace-normalised; asins in any case but never inside a longer token.
    ("eatsmart   precision pro\ndigital kitchen scale, RED", [SCALE_RED]),
    ("b000000003", [GL2]),
    ("B000000003X", []),
    # A title with HTML entities also matches decoded.
    ('Wiper Blade 17" (Pack of 2)', [WIPER]),
    ("Wiper Blade 17&quot; (Pack of 2)", [WIPER]),
    ("none", []),
])
def test_answers_name_products_by_identity(answer, named):
    assert NAMES.named(answer) == named


@pytest.mark.parametrize("answer, named", [
    ("Twin Kettle", [TWIN_A, TWIN_B]),
    (f"{TWIN_B} (Twin Kettle)", [TWIN_B]),
    (f"Twin Kettle ({TWIN_A})", [TWIN_A]),
    (f"{TWIN_A}: Twin Kettle", [TWIN_A]),
    (f"{TWIN_A} (Twin Kettle); {TWIN_B} (Twin Kettle)", [TWIN_A, TWIN_B]),
    # Beside another product's asin the shared title still names both of its products.
    (f"{GL2} (Twin Kettle)", [GL2, TWIN_A, TWIN_B]),
])
def test_a_shared_title_names_every_product_with_it_unless_beside_its_asin(answer, named):
    assert NAMES.named(answer) == named


def test_a_shared_title_grades_the_same_on_every_question():
    named = NAMES.named("Twin Kettle")
    assert [search_correct(named, gold) for gold in ([TWIN_A], [TWIN_B], [TWIN_A, TWIN_B])] == [False, False, True]


def test_by_name_is_exact_and_knows_shared_titles():
    assert NAMES.by_name(SCALE) == (SCALE,)
    assert NAMES.by_name(" eatsmart precision pro digital kitchen scale ") == (SCALE,)
    assert NAMES.by_name("Twin Kettle") == (TWIN_A, TWIN_B)
    assert NAMES.by_name("EatSmart Precision Pro") == ()


def test_a_long_repetitive_answer_is_read_in_linear_time():
    # Comparing each mention with every one taken before is quadratic (19 s for 20,000 mentions of a shorter
    # title); marking the taken characters reads this in ~0.2 s.
    answer = f"{RED}; " * 20_000 + "EatSmart Precision Pro Digital Kitchen Scale"
    started = time.perf_counter()
    assert NAMES.named(answer) == [SCALE_RED, SCALE]
    assert time.perf_counter() - started < 5.0


def _search_category(tmp_path, gold):
    folder = tmp_path / "test" / "kitchen"
    folder.mkdir(parents=True)
    (folder / "schema.json").write_text(json.dumps({"price": {"type": "cloze", "unit": "dollar"}}))
    (folder / "metadata.json").write_text(json.dumps(PRODUCTS))
    record = {"id": "search_qa_0", "asin": SCALE, "question": "Which one?", "type": "search_qa",
              "short_answer": [{"asin": a, "title": PRODUCTS[a]["title"]} for a in gold],
              "long_answer": "This one.", "extra_data": {"answer": "SELECT product_id FROM kitchen"}}
    (folder / "qa.jsonl").write_text(json.dumps(record) + "\n")
    return gym.make("agile/ProductQA-v2", data_dir=tmp_path, category="kitchen", db_dir=tmp_path / "db")


@pytest.mark.parametrize("answer, reward, read_as", [
    (RED, 1.0, [SCALE_RED]),
    (f"{SCALE_RED} ({RED})", 1.0, [SCALE_RED]),
    ("EatSmart Precision Pro Digital Kitchen Scale", 0.0, [SCALE]),
    ("Twin Kettle", 0.0, [TWIN_A, TWIN_B]),
])
def test_the_env_grades_by_identity_and_says_what_it_read(tmp_path, answer, reward, read_as):
    env = _search_category(tmp_path, [SCALE_RED, TWIN_A])
    env.reset(seed=0)
    _, got, _, _, info = env.step(f"[PredictAnswer]\n[Answer]: {answer}")
    assert got == reward and list(info["result"]["search_results"]) == read_as
    assert all(asin in info["result"]["feedback"] for asin in read_as)
    if len(read_as) == 2 and read_as[0] == TWIN_A:
        assert f'"Twin Kettle" is shared by {TWIN_A}, {TWIN_B}' in info["result"]["feedback"]


def test_an_sql_row_holding_a_shared_title_submits_every_product_with_it(tmp_path):
    env = _search_category(tmp_path, [TWIN_A, TWIN_B])
    env.reset(seed=0)
    _, reward, _, _, info = env.step("[SearchProduct]\n[SQL]: SELECT title FROM kitchen WHERE price = 40")
    assert reward == 1.0 and list(info["result"]["search_results"]) == [TWIN_A, TWIN_B]


# The real release: the two examples, and every gold answer graded over every search question.

@pytest.mark.real_data
@pytest.mark.parametrize("category, question_id, title, inner_title", [
    ("digital_scales", "search_qa_0", "EatSmart Precision Pro Digital Kitchen Scale, Red",
     "EatSmart Precision Pro Digital Kitchen Scale"),
    ("gun_holsters", "search_qa_2", "Fobus Glock - GL2E2", "Fobus Glock - GL2"),
])
def test_real_titles_holding_another_title_grade_right(productqa_root, tmp_path, category, question_id, title,
                                                       inner_title):
    release = load_category(productqa_root, "train", category)
    names = ProductNames(release.products)
    (asin,), (inner,) = names.by_name(title), names.by_name(inner_title)
    gold = next(q for q in release.questions if q.id == question_id).gold_products
    assert asin in gold and inner not in gold
    # One question of the release in a category folder of its own, with the release's schema and products.
    folder = tmp_path / "train" / category
    folder.mkdir(parents=True)
    for file in ("schema.json", "metadata.json"):
        (folder / file).symlink_to(productqa_root / "train" / category / file)
    lines = (productqa_root / "train" / category / "qa.jsonl").read_text(encoding="utf-8").splitlines()
    (folder / "qa.jsonl").write_text(next(line for line in lines if f'"id": "{question_id}"' in line) + "\n")
    env = gym.make("agile/ProductQA-v2", data_dir=tmp_path, split="train", category=category,
                   db_dir=tmp_path / "db")
    for answer in (title, f"{asin} ({title})"):
        env.reset(seed=0)
        _, reward, *_, info = env.step(f"[PredictAnswer]\n[Answer]: {answer}")
        assert reward == 1.0 and list(info["result"]["search_results"]) == [asin], answer
    env.reset(seed=0)
    _, reward, *_, info = env.step(f"[PredictAnswer]\n[Answer]: {inner_title}")
    assert reward == 0.0 and list(info["result"]["search_results"]) == [inner]


@pytest.mark.real_data
def test_every_gold_search_answer_of_the_release_grades_right(productqa_root):
    result = measure(productqa_root)
    forms = result["forms"]
    assert result["search_questions"] > 14_000
    for form in ("asins", "env_form", "long_answer", "one_env_form"):
        assert forms[form]["tried"] >= result["search_questions"] and forms[form]["wrong"] == 0, form
    # By title alone only a title that several products share can grade wrong (it names all of them).
    for form in ("titles", "one_title"):
        assert forms[form]["wrong"] == forms[form]["shared_title"], form


def test_the_release_measure_without_a_release_is_one_error_line_and_exit_code_2(tmp_path, capsys):
    code = main(["--data-dir", str(tmp_path / "missing"), "--output", str(tmp_path / "out.json")])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and str(tmp_path / "missing") in lines[0]
    assert not (tmp_path / "out.json").exists()
