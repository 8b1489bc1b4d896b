"""Each env's default kwargs for training and for evaluation, the user's kwargs merged over them, the guard
against training on a test split, and a description of the data a run uses (printed and saved with it).

| env (any version)   | training defaults                       | evaluation defaults |
|---------------------|-----------------------------------------|---------------------|
| `agile/ProductQA-*` | `split: train`                          | `split: test`       |
| `agile/MedMCQA-*`   | `split: train` (read with `hf_dataset`) | none (`validation`) |
| any other env       | none                                    | none                |

The `ppo` command also trains on one built-in category (`desk_lamps`) when no data folder is given (no
`data_dir` kwarg, no `$AGILE_DATA_DIR`) and no category is named, so a first run takes about a minute
(`command_defaults`); with a data folder it trains on every category of its train split. `sft` and the recipe
imitate every train category: the plain `sft` on one category left 5-32% invalid actions on the held-out test
split (2 epochs, seeds 0-2; 17-20% at seed 1 with 4 or 6 epochs), on all four 0-2%.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import gymnasium as gym

import agile_gym  # noqa: F401  (registers the agile/ ids)
from agile_gym.data.paths import task_data_dir

if TYPE_CHECKING:
    from agile_train.config import EnvConfig

PRODUCTQA = "agile_gym.envs.productqa:ProductQAEnv"
MEDMCQA = "agile_gym.envs.medmcqa:MedMCQAEnv"
# The default training run: one built-in train category, so a first run takes about a minute on a laptop.
BUILTIN_TRAIN_CATEGORY = "desk_lamps"
TEST_SPLIT = "test"

Purpose = Literal["train", "eval"]


def entry_point(env: str) -> str:
    """The 'module:Class' an env id makes (an id given as 'module:Class' is its own entry point)."""
    spec = gym.registry.get(env)
    return str(spec.entry_point) if spec is not None else env


def with_defaults(env: str, kwargs: dict[str, Any], purpose: Purpose) -> dict[str, Any]:
    """`kwargs` (the user's) merged over `env`'s defaults for `purpose` (see the module's table)."""
    point = entry_point(env)
    if point == PRODUCTQA:
        return {"split": "train" if purpose == "train" else TEST_SPLIT, **kwargs}
    if point == MEDMCQA and purpose == "train":
        return {"split": "train", **kwargs}
    return dict(kwargs)


def command_defaults(env: EnvConfig) -> EnvConfig:
    """`env` as the `ppo` command trains by default: on ProductQA's built-in data with no category named, the
    built-in category only (see the module docstring); any other env or data unchanged."""
    kwargs = with_defaults(env.env, env.kwargs(), "train")
    builtin = "data_dir" not in kwargs and task_data_dir("productqa", None) is None
    if entry_point(env.env) == PRODUCTQA and builtin and kwargs["split"] == "train" and "category" not in kwargs:
        kwargs["category"] = BUILTIN_TRAIN_CATEGORY
    return dataclasses.replace(env, env_kwargs=json.dumps(kwargs))


def check_train_split(kwargs: dict[str, Any], allow_test_split: bool) -> None:
    """ValueError when training kwargs select the split named 'test' without `--allow-test-split`."""
    if kwargs.get("split") == TEST_SPLIT and not allow_test_split:
        raise ValueError("the env kwargs train on the split named 'test' (held-out questions); use "
                         "'split': 'train', or pass --allow-test-split to train on it anyway")


def resolve_env(env: EnvConfig, purpose: Purpose, allow_test_split: bool = False) -> EnvConfig:
    """`env` with its kwargs merged over the env's defaults for `purpose` (saved so, a resumed run reads the
    same kwargs back); for training, ValueError on a split named 'test' unless `allow_test_split`."""
    kwargs = with_defaults(env.env, env.kwargs(), purpose)
    if purpose == "train":
        check_train_split(kwargs, allow_test_split)
    return dataclasses.replace(env, env_kwargs=json.dumps(kwargs))


def describe_data(env_id: str, kwargs: dict[str, Any], env: gym.Env) -> dict[str, Any]:
    """What `env` (made from `env_id` and `kwargs`) holds: the data's source, split, categories and questions.

    Keys: `env`, `kwargs`, `data` (a folder, a dataset name, or 'built-in (synthetic)'), `split` (None when
    the data has none), `categories` (None for a task without categories) and `questions` (per session, after
    `max_questions`; None for an env that is not an agile/ env)."""
    unwrapped = env.unwrapped
    items = getattr(unwrapped, "_all_items", None)
    limit = getattr(unwrapped, "max_questions", None)
    description: dict[str, Any] = {"env": env_id, "kwargs": kwargs, "data": None, "split": None,
                                   "categories": None, "questions": None}
    categories = getattr(unwrapped, "categories", None)
    if isinstance(categories, dict) and categories:
        first = next(iter(categories.values()))
        description.update(
            data="built-in (synthetic)" if getattr(unwrapped, "_builtin", False) else
            str(Path(first.source).parent.parent),
            split=first.split, categories=list(categories),
            questions={name: min(len(c.questions), limit or len(c.questions)) for name, c in categories.items()})
    elif entry_point(env_id) == MEDMCQA:
        hf = kwargs.get("hf_dataset")
        description.update(data=str(kwargs.get("data_files") or hf or "built-in (synthetic)"),
                           split=kwargs.get("split", "validation") if hf else None)
    if items is not None and description["questions"] is None:
        description["questions"] = min(len(items), limit or len(items))
    return description


def data_line(purpose: str, description: dict[str, Any]) -> str:
    """One line for the console: '<purpose> data: <env>, split train, categories a, b (27 questions), <data>'."""
    parts = [description["env"]]
    if description["split"] is not None:
        parts.append(f"split {description['split']}")
    questions = description["questions"]
    total = sum(questions.values()) if isinstance(questions, dict) else questions
    if description["categories"] is not None:
        parts.append(f"categories {', '.join(description['categories'])}")
    if total is not None:
        parts.append(f"{total} questions")
    if description["data"] is not None:
        parts.append(f"data {description['data']}")
    return f"{purpose} data: " + ", ".join(parts)
