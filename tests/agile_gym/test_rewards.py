import pytest

from agile_gym.rewards import (
    MEAN_OF_CATEGORIES,
    QUESTION_WEIGHTED,
    headline_metrics,
    mean_of_categories,
    merge_metrics,
)

# Two category sessions of unequal size: kettles 1 question (advised), tents 3 questions (all wrong).
KETTLES = {"questions": 1, "accuracy": 1.0, "advice_rate": 1.0, "total_score": 0.7, "invalid_action_rate": 0.0,
           "per_type": {"fact_qa": {"questions": 1, "accuracy": 1.0, "advice_rate": 1.0, "total_score": 0.7,
                                    "invalid_action_rate": 0.0}}}
TENTS = {"questions": 3, "accuracy": 0.0, "advice_rate": 0.0, "total_score": 0.0, "invalid_action_rate": 1.0,
         "per_type": {"fact_qa": {"questions": 2, "accuracy": 0.0, "advice_rate": 0.0, "total_score": 0.0,
                                  "invalid_action_rate": 1.0},
                      "search_qa": {"questions": 1, "accuracy": 0.0, "advice_rate": 0.0, "total_score": 0.0,
                                    "invalid_action_rate": 1.0}}}


def test_the_two_headline_figures_differ_on_unequal_categories_and_each_is_right_by_hand():
    headline = headline_metrics([KETTLES, TENTS])
    assert list(headline) == [MEAN_OF_CATEGORIES, QUESTION_WEIGHTED]  # the paper's figure first
    mean, weighted = headline[MEAN_OF_CATEGORIES], headline[QUESTION_WEIGHTED]
    # Mean of categories: (1.0 + 0.0) / 2, (0.7 + 0.0) / 2; question-weighted: 1 of 4, 0.7 / 4.
    assert (mean["accuracy"], mean["total_score"], mean["invalid_action_rate"]) == pytest.approx((0.5, 0.35, 0.5))
    assert (weighted["accuracy"], weighted["total_score"], weighted["invalid_action_rate"]) == pytest.approx(
        (0.25, 0.175, 0.75))
    assert mean["questions"] == weighted["questions"] == 4
    # Per type: fact_qa is in both categories (mean 0.5, weighted 1 of 3); search_qa only in tents.
    assert mean["per_type"]["fact_qa"]["accuracy"] == pytest.approx(0.5)
    assert weighted["per_type"]["fact_qa"]["accuracy"] == pytest.approx(1 / 3)
    assert mean["per_type"]["search_qa"] == weighted["per_type"]["search_qa"] == {
        "questions": 1, "accuracy": 0.0, "advice_rate": 0.0, "total_score": 0.0, "invalid_action_rate": 1.0}


def test_equal_categories_give_equal_figures_and_empty_sessions_are_left_out():
    assert mean_of_categories([KETTLES, KETTLES]) == merge_metrics([KETTLES, KETTLES])
    empty = {"questions": 0, "accuracy": 0.0, "per_type": {}}
    assert mean_of_categories([KETTLES, empty, None]) == mean_of_categories([KETTLES])
