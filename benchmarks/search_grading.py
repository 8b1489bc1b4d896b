"""Search grading on a whole ProductQA release: how many gold answers, written as an agent would, grade wrong.

    AGILE_DATA_DIR=/path/to/release python -m benchmarks.search_grading    # writes results/search_grading.json

Every search_qa question of every category of both splits is answered with its own gold products, written in
each form below, and graded as `agile/ProductQA-v2` grades a `[PredictAnswer]` (`agile_gym.grading`). A gold
answer must always grade right, except where the form cannot tell products apart: a title that several
products share names all of them, so naming it alone is wrong when only some of them are gold (counted
apart, as `shared_title`).

Forms: `asins` ("B0.., B0.."), `env_form` ("ASIN (title); ..." as the env's advice and SQL feedback write
it), `titles` ("title; title"), `long_answer` (the release's gold long answer, "`title` with asin: ASIN"),
and each gold product alone as `one_env_form` / `one_title`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from agile_gym.data.paths import task_data_dir
from agile_gym.data.productqa import list_categories, load_category
from agile_gym.data.types import SEARCH, DataError
from agile_gym.grading import ProductNames, search_correct
from agile_gym.results import markdown_table

FORMS = ("asins", "env_form", "titles", "long_answer", "one_env_form", "one_title")


def answers(question, names: ProductNames) -> list[tuple[str, str]]:
    """(form, text) pairs: the question's gold products written in every form."""
    gold = question.gold_products
    return [
        ("asins", ", ".join(gold) or "none"),
        ("env_form", "; ".join(f"{a} ({names.title_of(a)})" for a in gold) or "none"),
        ("titles", "; ".join(names.title_of(a) for a in gold) or "none"),
        ("long_answer", question.gold_long),
        *[("one_env_form", f"{a} ({names.title_of(a)})") for a in gold],
        *[("one_title", names.title_of(a)) for a in gold],
    ]


def measure(root: str | Path) -> dict:
    """Counts per form: tried, wrong, and wrong because a title several products share was named alone."""
    tried, wrong, shared = Counter(), Counter(), Counter()
    questions = exposed = 0
    for split in ("train", "test"):
        for name in list_categories(root, split):
            category = load_category(root, split, name)
            names = ProductNames(category.products)
            for question in category.questions:
                if question.type != SEARCH:
                    continue
                questions += 1
                exposed_here = False
                for form, text in answers(question, names):
                    mentions = names.mentions(text)
                    named = {asin for m in mentions for asin in m.asins}
                    tried[form] += 1
                    if not search_correct(named, question.gold_products):
                        wrong[form] += 1
                        exposed_here = True
                        shared[form] += any(len(m.asins) > 1 for m in mentions)
                exposed += exposed_here
    return {
        "root": str(root), "search_questions": questions, "questions_with_a_wrong_gold_form": exposed,
        "forms": {f: {"tried": tried[f], "wrong": wrong[f], "shared_title": shared[f]} for f in FORMS},
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: measure, print a markdown table and write `--output` (JSON). Returns 0, or 2
    after one line on stderr when there is no release (DataError names the folder)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="release root or its productqa/ (default: $AGILE_DATA_DIR)")
    parser.add_argument("--output", default="results/search_grading.json", help="JSON file (default: %(default)s)")
    args = parser.parse_args(argv)
    root = task_data_dir("productqa", args.data_dir)
    try:
        if root is None:
            raise DataError("no ProductQA release: set $AGILE_DATA_DIR or --data-dir (the built-in data is synthetic)")
        result = measure(root)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = [{"form": form, **counts} for form, counts in result["forms"].items()]
    print(f"agile/ProductQA-v2, {result['search_questions']} search questions, "
          f"{result['questions_with_a_wrong_gold_form']} with a gold form graded wrong")
    print(markdown_table(rows, {"form": "form", "tried": "tried", "wrong": "wrong",
                                "wrong: shared title alone": "shared_title"}))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
