"""ProductQA: AGILE's customer-service task over real Amazon product categories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agile_gym.actions import (
    ANSWER,
    PREDICT_ANSWER,
    SEARCH_PRODUCT,
    SEEK_ADVICE,
    SHORT_ANSWER,
    SQL,
    PredictAnswer,
    SearchProduct,
)
from agile_gym.data.builtin import builtin_answer_visible, builtin_productqa_root
from agile_gym.data.paths import task_data_dir
from agile_gym.data.productqa import list_categories, load_category
from agile_gym.data.types import SEARCH, Category
from agile_gym.executor import AgileEnv, Outcome, SessionItem
from agile_gym.grading import Mention, ProductNames, answers_match, search_correct
from agile_gym.memory.store import Retrieved
from agile_gym.tools.product_db import build_product_db
from agile_gym.tools.sql import SQLTool

_MAX_CHOICES_SHOWN = 12


class ProductQAEnv(AgileEnv):
    """AGILE's ProductQA customer-service session as a Gymnasium text environment (`agile/ProductQA-v2`).

    `AgileEnv` documents what every agile/ env shares (actions, rewards, episode end, `info`, the common
    arguments); this adds what is ProductQA's own.

    ## Description
    A session is every question of one product category, or of every category of a split one after another
    (in name order unless `category` lists them). History is kept per product, so a question sees only the
    history of the product it is about; knowledge is kept per category. Each prompt shows the product's
    metadata, the category's table schema (with tools) and the retrieved memory.

    ## Action Space
    - `[PredictAnswer]`: the short answer when given, else the answer, is graded. fact_qa / reasoning_qa: case-
      and whitespace-insensitive equality with the gold short answer. search_qa: the products it names must be
      non-empty and all gold; when no product satisfies the request, naming none (e.g. `none`) is correct. A
      product is named by its asin or full title (`agile_gym.grading.ProductNames`: casefolded, at word
      boundaries, longest first, so a title inside a longer title in the answer does not count); a title that
      several products share names all of them unless written beside one's asin (`ASIN (title)`). The
      feedback lists the products the answer was read as naming.
    - `[SearchProduct]` then `[SQL]: SELECT product_id FROM <category> WHERE ...`: one read-only SELECT on the
      category's SQLite table (`sql_timeout_s` limit, `max_sql_rows` rows); the products it returns are the
      answer, graded as a search answer and listed in `info["result"]["search_results"]`. An SQL error, or rows
      whose first column is no product, submit nothing (a wrong answer).
    - `[SeekAdvice]`: the gold long answer, and for search questions the gold products.

    ## Observation Space
    The prompt: role and expected format, the table schema (with tools), the product's asin, title and
    metadata, retrieved history of this product and category knowledge, and the question.
    `info["question"]["product"]` holds the product's metadata (feature -> value); `type` is `fact_qa`,
    `search_qa` or `reasoning_qa`.

    ## Rewards
    As `AgileEnv`, with `advice_cost` 0.3 by default (the paper's ProductQA value).

    ## Arguments
    | Argument | Type | Default | Description |
    |---|---|---|---|
    | `data_dir` | str, Path or None | None | the data (below); None: `$AGILE_DATA_DIR/productqa`, else built-in |
    | `split` | str | "test" | "train" or "test" |
    | `category` | str, list or None | None | one category, several in order, or None for every category of the split |
    | `advice_cost` | float | 0.3 | see `AgileEnv` |
    | `sql_timeout_s` | float | 1.0 | time limit of one query, > 0 |
    | `max_sql_rows` | int | 50 | rows a query returns at most, >= 50 |
    | `db_dir` | str, Path or None | None | where product databases are built; None: `productqa_db/` (see below) |

    and every `AgileEnv` argument (`history_k` and `knowledge_k` default to 3). `data_dir` holds
    `{train,test}/<category>/{qa.jsonl,schema.json,metadata.json}`, or is a release root holding that as
    `productqa/`. `db_dir=None` puts `productqa_db/` in `$AGILE_CACHE_DIR` (else ~/.cache/agile). Missing or
    malformed data raises `agile_gym.data.types.DataError` naming the file and line.

    ## Example
    On the built-in data (`$AGILE_DATA_DIR` unset):

    >>> import gymnasium as gym
    >>> import agile_gym
    >>> env = gym.make("agile/ProductQA-v2", category="kettles")
    >>> observation, info = env.reset(seed=0)
    >>> info["question"]["type"], info["question"]["text"]
    ('search_qa', 'I want a Steamly kettle under $113. What do you have?')
    >>> sql = 'SELECT product_id FROM kettles WHERE brand = "Steamly" AND price < 113'
    >>> observation, reward, terminated, truncated, info = env.step(f"[SearchProduct]\\n[SQL]: {sql}")
    >>> reward, info["result"]["search_results"], info["segment_end"]
    (1.0, ['B0KE000001', 'B0KE000005', 'B0KE000009'], True)
    >>> info["question"]["text"]
    'Can I set the water temperature?'
    >>> observation, reward, terminated, truncated, info = env.step("[SeekAdvice]")
    >>> reward, info["phase"], info["segment_end"]
    (0.7, 'reflect', False)
    >>> observation, reward, terminated, truncated, info = env.step("[NoInformation]")
    >>> reward, info["segment_end"], info["metrics"]["total_score"]
    (0.0, True, 0.85)
    >>> env.close()

    ## Expert hook
    On the built-in data `env.unwrapped.expert().answer_visible` is the generator's ground truth (brand and flag
    questions: in the metadata; a hidden fact: once a paraphrase's history entry is retrieved; a reasoning
    question: once its rule's knowledge is retrieved; a search: when `tools` is on); None on a release.

    ## Version History
    - v2: search answers are graded by product identity (asin, or full title longest-first at word
      boundaries; a shared title names every product with it), no longer by substring, and the feedback lists
      the products read; an SQL row holding a shared title submits every product with it. The table has a
      column for every snake_case feature the products carry, not only those schema.json lists (typed from
      their values, with a `DataQualityWarning`), and the prompt's table schema lists it; the release's
      categories, whose files agree, get the same table as before.
      Lone surrogates in an action (text UTF-8 cannot carry) become U+FFFD, so they come back replaced in
      observations and memory.
      The SQL tool refuses `sqlite_master` in any position (`count(*)`, subqueries), strings over 100,000 bytes
      (was 1,000,000), LIKE/GLOB patterns over 1,000 bytes, results over 100 columns or 1,000,000 characters,
      and stops a single long call at the deadline (a worker process is killed), so such queries' feedback changes.
    - v1: the expert hook reflects the data's lesson or `[NoInformation]`, never a product's answer, and has
      `answer_visible` (see `AgileEnv`).
    - v0: initial release; deprecated (the id makes this class, so it behaves as v1).
    """

    has_tools = True

    def __init__(
        self,
        data_dir: str | Path | None = None,
        split: str = "test",
        category: str | list[str] | None = None,
        advice_cost: float = 0.3,
        *,
        sql_timeout_s: float = 1.0,
        max_sql_rows: int = 50,
        db_dir: str | Path | None = None,
        **executor_kwargs: Any,
    ) -> None:
        release_root = task_data_dir("productqa", data_dir)
        # The built-in data named explicitly (data_dir=builtin_productqa_root()) is still the built-in data.
        self._builtin = release_root is None or Path(release_root).resolve() == builtin_productqa_root().resolve()
        root = release_root or builtin_productqa_root()
        if category is None:
            names = list_categories(root, split)
        else:
            names = [category] if isinstance(category, str) else list(category)
        self.categories: dict[str, Category] = {name: load_category(root, split, name) for name in names}
        self._sql = {
            name: SQLTool(build_product_db(cat, db_dir), name, timeout_s=sql_timeout_s, max_rows=max_sql_rows)
            for name, cat in self.categories.items()
        }
        self._names = {name: ProductNames(cat.products) for name, cat in self.categories.items()}
        self._schema_text = {name: _schema_text(cat) for name, cat in self.categories.items()}
        items = [SessionItem(q, name) for name, cat in self.categories.items() for q in cat.questions]
        super().__init__(items, advice_cost=advice_cost, **executor_kwargs)

    def _history_key(self, item: SessionItem) -> str:
        return f"{item.scope}/{item.question.asin}"

    def _answer_visible(self, item: SessionItem) -> bool | None:
        if not self._builtin:
            return None
        return builtin_answer_visible(
            item.scope, item.question.question, item.question.type,
            [entry.question for entry, _ in self._retrieved.history],
            [text for text, _ in self._retrieved.knowledge], self.use_tools,
        )

    def _question_info(self, item: SessionItem) -> dict[str, Any]:
        return {"product": dict(self.categories[item.scope].products[item.question.asin])}

    def _prompt(self, item: SessionItem, retrieved: Retrieved) -> str:
        category = self.categories[item.scope]
        product = category.products[item.question.asin]
        lines = [
            f"You are a customer-service agent of an online shop, category {item.scope}.",
            f"Reply with {self.expected_format()}.",
        ]
        if self.use_tools:
            lines.append(f"Table {item.scope}: {self._schema_text[item.scope]}")
        lines.append(f"Product {item.question.asin}: {product.get('title', '')}")
        lines += [f"- {key}: {value}" for key, value in product.items() if key != "title"]
        lines += self._memory_lines(retrieved, "History of this product:")
        lines.append(f"Question: {item.question.question}")
        return "\n".join(lines)

    def _grade(self, item: SessionItem, action: PredictAnswer) -> Outcome:
        question = item.question
        text = action.graded_text
        memory_answer = action.answer if action.short_answer is None else f"{action.answer} ({action.short_answer})"
        if question.type == SEARCH:
            names = self._names[item.scope]
            mentions = names.mentions(text)
            named = tuple(dict.fromkeys(asin for mention in mentions for asin in mention.asins))
            return Outcome(
                "PredictAnswer", correct=search_correct(named, question.gold_products),
                feedback=_search_feedback(names, mentions, named), search_results=named, memory_answer=memory_answer,
            )
        return Outcome(
            "PredictAnswer", correct=answers_match(text, question.gold_short),
            feedback="Your answer was submitted.", memory_answer=memory_answer,
        )

    def _run_tool(self, item: SessionItem, action: SearchProduct) -> Outcome:
        result = self._sql[item.scope].run(action.sql)
        if not result.ok:
            return Outcome("SearchProduct", feedback=f"SQL error: {result.error}. No product was submitted.")
        category = self.categories[item.scope]
        found, unrecognized = [], 0
        for row in result.rows:
            value = str(row[0]) if row else ""
            asins = self._names[item.scope].by_name(value)
            if not asins:
                unrecognized += 1
            found += [asin for asin in asins if asin not in found]
        if unrecognized:
            feedback = (f"SQL returned {len(result.rows)} row(s) whose first column is not a product_id; "
                        "select product_id to submit products.")
            return Outcome("SearchProduct", feedback=feedback, memory_answer=None)
        shown = ", ".join(f"{a} ({category.title_of(a)})" for a in found[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        capped = f" (capped at {len(result.rows)} rows)" if result.truncated else ""
        if found:
            feedback = f"SQL returned {len(found)} product(s){capped}: {shown}{more}"
        else:
            feedback = "SQL returned no product."
        return Outcome(
            "SearchProduct", correct=search_correct(found, item.question.gold_products), feedback=feedback,
            search_results=tuple(found), memory_answer=", ".join(found) or "none",
        )

    def _gold_action(self, item: SessionItem) -> str:
        question = item.question
        if question.type == SEARCH:
            short = ", ".join(question.gold_products) or "none"
            return f"{PREDICT_ANSWER}\n{ANSWER} {question.gold_long}\n{SHORT_ANSWER} {short}"
        return f"{PREDICT_ANSWER}\n{ANSWER} {question.gold_long}\n{SHORT_ANSWER} {question.gold_short}"

    def _advice_text(self, item: SessionItem) -> str:
        question = item.question
        if question.type != SEARCH:
            return question.gold_long
        category = self.categories[item.scope]
        products = "; ".join(f"{a} ({category.title_of(a)})" for a in question.gold_products) or "none"
        return f"{question.gold_long}\nProducts that satisfy the request: {products}"

    def _action_examples(self) -> dict[str, str]:
        table = next(iter(self.categories))
        return {
            PREDICT_ANSWER: f"{PREDICT_ANSWER}\n{ANSWER} Yes, it is.\n{SHORT_ANSWER} yes",
            SEARCH_PRODUCT: f"{SEARCH_PRODUCT}\n{SQL} SELECT product_id FROM {table} WHERE price < 20",
            SEEK_ADVICE: SEEK_ADVICE,
        }

    def close(self) -> None:
        """Close the SQL connections (safe to call twice; a later search reopens them)."""
        for tool in self._sql.values():
            tool.close()
        super().close()


def _search_feedback(names: ProductNames, mentions: list[Mention], named: tuple[str, ...]) -> str:
    """Which products a search answer was read as naming, and which titles named several products."""
    if not named:
        return "Your answer was submitted; it names no product of this category."
    shown = "; ".join(f"{asin} ({names.title_of(asin)})" for asin in named[:10])
    more = f" and {len(named) - 10} more" if len(named) > 10 else ""
    feedback = f"Your answer was submitted, read as naming {len(named)} product(s): {shown}{more}."
    for asins in dict.fromkeys(m.asins for m in mentions if len(m.asins) > 1):
        feedback += f' The title "{names.title_of(asins[0])}" is shared by {", ".join(asins)}, so it names each.'
    return feedback


def _schema_text(category: Category) -> str:
    parts = ["product_id (asin)", "title"]
    for column in category.columns:  # the schema's features and those only the products carry
        name = column.name
        if column.numeric:
            parts.append(f"{name} (number{', ' + column.unit if column.unit else ''})")
        else:
            values = sorted({str(p.get(name)) for p in category.products.values() if p.get(name) is not None})
            shown = ", ".join(values[:_MAX_CHOICES_SHOWN]) + (", ..." if len(values) > _MAX_CHOICES_SHOWN else "")
            parts.append(f"{name} (one of: {shown})")
    return "; ".join(parts)
