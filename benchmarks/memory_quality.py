"""Retrieval quality and latency of the memory retrievers (bm25, dense, hybrid) on ProductQA's train categories.

    python -m benchmarks.memory_quality                  # real release (AGILE_DATA_DIR), all train categories
    python -m benchmarks.memory_quality --quick          # small: 2 categories, 1k entries (the test suite)

Quality. A *paraphrase pair* is two fact questions about the same product whose short answers agree, where that
answer is specific (not yes/no) and given to at most `--max-answer-repeats` questions of the product: they ask
for the same fact in other words. For the later question of each pair, memory holds the product's earlier
questions as the env stores them after advice (question + long answer, `Memory.add_history`), and the earlier
member of the pair (or members) is what retrieval should return: recall@1/3/5 (a paraphrase among the top k)
and MRR (1 / rank of the first paraphrase; 0 when not retrieved), with a 95% paired bootstrap interval of each
retriever's difference to bm25 over the same queries. A *look-alike pair* is two questions about
the same product whose stemmed word sets overlap (Jaccard >= 0.3) but whose short answers differ: questions
that share words but not meaning. The same figures are reported on the queries whose memory holds a
look-alike. Only the train split is read (never the test categories).

Similar questions. The paraphrase pairs (similar) and look-alike pairs (not similar) also score the
session-level heuristic's similarity rules: Jaccard of word sets at `JACCARD_THRESHOLD`, and embedding cosine
at each threshold of a grid; the cosine threshold with the best balanced accuracy is reported (it set
`agile_gym.memory.similarity.COSINE_THRESHOLD`).

Latency (CPU, one process). Memories of 1k, 10k and 100k entries built from the release's question texts; per
retriever the median milliseconds to add one entry (dense: embedding it) and to search with a query whose
embedding is already cached (the env embeds a session's questions in one batch when it is built), and, for
dense, to embed one new query. To keep the run short, at most `--embed-max` distinct texts are embedded and
larger memories repeat their vectors (search time does not depend on the values). A step of the env adds one
entry and searches once, so `step_ms` = add + search.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agile_gym.data.builtin import builtin_productqa_root
from agile_gym.data.paths import task_data_dir
from agile_gym.data.productqa import list_categories, load_category
from agile_gym.data.types import FACT
from agile_gym.files import atomic_write
from agile_gym.grading import normalize_answer
from agile_gym.memory.embeddings import PAPER_MODEL, shared_encoder
from agile_gym.memory.retrieval import RETRIEVERS, BM25Retriever, DenseRetriever, HybridRetriever
from agile_gym.memory.similarity import JACCARD_THRESHOLD, word_set
from agile_gym.progress import progress_bar
from agile_gym.results import cell, markdown_table

RETRIEVER_NAMES = ("bm25", "dense", "hybrid")
GENERIC_ANSWERS = frozenset({"yes", "no", "varies", "unknown", "none", "n/a"})
LOOKALIKE_JACCARD = 0.3


@dataclass(frozen=True)
class Query:
    """A later question at `position` of its product's history: memory holds the entries before it, and
    `relevant` are the positions of the earlier questions that paraphrase it."""

    position: int
    text: str
    relevant: frozenset[int]
    has_lookalike: bool


@dataclass(frozen=True)
class ProductHistory:
    """One product's questions in data order, as memory entries (question + long answer), and its queries."""

    category: str
    entries: tuple[str, ...]
    queries: tuple[Query, ...]


def _jaccard(a: str, b: str) -> float:
    wa, wb = word_set(a), word_set(b)
    return len(wa & wb) / max(len(wa | wb), 1)


def build_queries(root: Path, categories: list[str], products: int, per_category: int, max_answer_repeats: int,
                  seed: int, max_position: int | None = None):
    """(histories, paraphrase_pairs, lookalike_pairs) from the train split, `products` products per category
    (drawn from `seed`), each product's first `max_position` questions (None: all), at most `per_category`
    queries per category; pairs are (earlier, later) texts."""
    rng = np.random.default_rng(seed)
    histories: list[ProductHistory] = []
    paraphrases: list[tuple[str, str]] = []
    lookalikes: list[tuple[str, str]] = []
    for name in categories:
        category = load_category(root, "train", name)
        by_product: dict[str, list] = defaultdict(list)
        for question in category.questions:
            if question.asin:
                by_product[question.asin].append(question)
        asins = sorted(by_product)
        asins = [asins[i] for i in sorted(rng.choice(len(asins), min(products, len(asins)), replace=False))]
        found: list[tuple[str, Query]] = []
        for asin in asins:
            questions = by_product[asin][:max_position]
            answers = [normalize_answer(q.gold_short) for q in questions]
            repeats = Counter(a for q, a in zip(questions, answers) if q.type == FACT)
            for later, question in enumerate(questions):
                answer = answers[later]
                relevant = frozenset(
                    earlier for earlier in range(later)
                    if question.type == FACT and questions[earlier].type == FACT and answers[earlier] == answer
                    and answer not in GENERIC_ANSWERS and repeats[answer] <= max_answer_repeats
                    and questions[earlier].question != question.question
                )
                alike = [
                    earlier for earlier in range(later)
                    if answers[earlier] != answer and _jaccard(questions[earlier].question, question.question)
                    >= LOOKALIKE_JACCARD
                ]
                lookalikes += [(questions[e].question, question.question) for e in alike]
                if relevant:
                    paraphrases += [(questions[e].question, question.question) for e in sorted(relevant)]
                    found.append((asin, Query(later, question.question, relevant, bool(alike))))
        if len(found) > per_category:
            found = [found[i] for i in sorted(rng.choice(len(found), per_category, replace=False))]
        for asin in asins:
            queries = tuple(query for owner, query in found if owner == asin)
            if queries:
                entries = tuple(f"{q.question} {q.gold_long}" for q in by_product[asin][: queries[-1].position])
                histories.append(ProductHistory(name, entries, queries))
    return histories, paraphrases, lookalikes


def score_retriever(name: str, histories: list[ProductHistory], depth: int = 50) -> dict:
    """recall@1/3/5 and MRR of retriever `name` (all queries, and those with a look-alike in memory). Each
    product's history is indexed incrementally, in order, and searched at each query's position, as the env
    grows memory; dense embeddings of a product's entries are computed in one batch first."""
    ranks: list[float] = []
    lookalike: list[float] = []
    for history in progress_bar(f"quality: {name}", len(histories), iterable=histories, unit="product"):
        if name != "bm25":
            shared_encoder(PAPER_MODEL).encode(list(history.entries) + [q.text for q in history.queries])
        retriever = RETRIEVERS[name]()
        for query in history.queries:
            while len(retriever) < query.position:
                retriever.add(history.entries[len(retriever)])
            ranked = [entry for entry, _ in retriever.search(query.text, depth)]
            rank = next((r for r, entry in enumerate(ranked, 1) if entry in query.relevant), float("inf"))
            ranks.append(rank)
            if query.has_lookalike:
                lookalike.append(rank)

    def summary(selected: list[float]) -> dict:
        n = max(len(selected), 1)
        return {
            "queries": len(selected),
            **{f"recall_at_{k}": sum(r <= k for r in selected) / n for k in (1, 3, 5)},
            "mrr": sum(1.0 / r for r in selected) / n,
        }

    return {**summary(ranks), "with_lookalike": summary(lookalike), "reciprocal_ranks": [1.0 / r for r in ranks]}


def paired_interval(ours: list[float], base: list[float], seed: int, resamples: int = 5000) -> dict:
    """Mean difference `ours - base` over the same queries with a 95% paired bootstrap interval (percentile
    method, queries resampled with replacement)."""
    diff = np.asarray(ours) - np.asarray(base)
    if not len(diff):
        return {"difference": 0.0, "low": 0.0, "high": 0.0}
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(len(diff), size=(resamples, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"difference": float(diff.mean()), "low": float(low), "high": float(high)}


def similarity_rules(paraphrases: list[tuple[str, str]], lookalikes: list[tuple[str, str]], seed: int,
                     max_pairs: int) -> dict:
    """Balanced accuracy of the Jaccard rule and of embedding cosine thresholds on paraphrase (similar) and
    look-alike (not similar) pairs; the best cosine threshold of a 0.05 grid."""
    rng = np.random.default_rng(seed)

    def sample(pairs):
        if len(pairs) > max_pairs:
            pairs = [pairs[i] for i in rng.choice(len(pairs), max_pairs, replace=False)]
        return pairs

    positives, negatives = sample(paraphrases), sample(lookalikes)
    encoder = shared_encoder(PAPER_MODEL)

    def cosines(pairs):
        if not pairs:
            return np.zeros(0)
        a = encoder.encode([p[0] for p in pairs])
        b = encoder.encode([p[1] for p in pairs])
        return (a * b).sum(axis=1)

    pos_cos, neg_cos = cosines(positives), cosines(negatives)
    pos_jac = np.asarray([_jaccard(*p) for p in positives])
    neg_jac = np.asarray([_jaccard(*p) for p in negatives])

    def balanced(pos, neg, threshold):
        tpr = float((pos >= threshold).mean()) if len(pos) else 0.0
        tnr = float((neg < threshold).mean()) if len(neg) else 0.0
        return {"threshold": threshold, "similar_recall": tpr, "lookalike_rejected": tnr,
                "balanced_accuracy": (tpr + tnr) / 2}

    grid = [balanced(pos_cos, neg_cos, round(t, 2)) for t in np.arange(0.3, 0.96, 0.05)]
    return {
        "paraphrase_pairs": len(positives),
        "lookalike_pairs": len(negatives),
        "jaccard": balanced(pos_jac, neg_jac, JACCARD_THRESHOLD),
        "cosine_best": max(grid, key=lambda row: row["balanced_accuracy"]),
        "cosine_grid": grid,
    }


def _median_ms(fn, repeats: int) -> float:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def time_retrievers(texts: list[str], sizes: list[int], queries: int, embed_max: int, seed: int) -> dict:
    """Per retriever and memory size: median `add_ms`, `search_ms` (query embedding cached), `step_ms` (their
    sum) and, for dense, `embed_query_ms` (one new query), all milliseconds."""
    rng = np.random.default_rng(seed)
    encoder = shared_encoder(PAPER_MODEL)
    distinct = texts[: min(len(texts), embed_max, max(sizes))]
    vectors = encoder.encode(distinct)  # cached by text: the dense indexes below reuse these embeddings
    query_texts = [texts[i] for i in rng.integers(len(texts), size=queries)]
    encoder.encode(query_texts)
    fresh = [f"{texts[i]} (new entry {i})" for i in rng.integers(len(texts), size=queries)]
    out: dict[str, dict] = {name: {} for name in RETRIEVER_NAMES}
    for size in progress_bar("latency", len(sizes), iterable=sizes, unit="size"):
        corpus = [distinct[i % len(distinct)] for i in range(size)]
        bm25 = BM25Retriever()
        for text in corpus:
            bm25.add(text)
        dense = DenseRetriever()
        dense._vectors = np.resize(vectors, (size, vectors.shape[1])).astype(np.float32)
        dense._size = size
        hybrid = HybridRetriever()
        hybrid.lexical, hybrid.dense = bm25, dense
        embed_query_ms = _median_ms(lambda i, size=size: encoder.model.encode(
            [f"{query_texts[i]} ({size}, {i})"], normalize_embeddings=True), queries)
        for name, index in (("bm25", bm25), ("dense", dense), ("hybrid", hybrid)):
            search_ms = _median_ms(lambda i, index=index: index.search(query_texts[i], 5), queries)

            def add(i, index=index, size=size, name=name):
                index.add(f"{fresh[i]} ({name}, {size})")  # a text never embedded before
                index.truncate(size)

            add_ms = _median_ms(add, queries)
            row = {"add_ms": add_ms, "search_ms": search_ms, "step_ms": add_ms + search_ms}
            if name != "bm25":
                row["embed_query_ms"] = embed_query_ms
            out[name][str(size)] = row
    return out


def run(data_dir: Path | None, quick: bool, products: int, per_category: int, sizes: list[int], queries: int,
        embed_max: int, max_answer_repeats: int, seed: int, max_position: int | None = None) -> dict:
    """The whole benchmark as one JSON-ready dict (see the module docstring)."""
    root = data_dir or builtin_productqa_root()
    categories = list_categories(root, "train")
    if quick:
        categories = categories[:2]
    started = time.perf_counter()
    histories, paraphrases, lookalikes = build_queries(
        root, categories, products, per_category, max_answer_repeats, seed, max_position
    )
    quality = {name: score_retriever(name, histories) for name in RETRIEVER_NAMES}
    base = quality["bm25"]["reciprocal_ranks"]
    for name in RETRIEVER_NAMES[1:]:
        ours = quality[name]["reciprocal_ranks"]
        quality[name]["vs_bm25"] = {
            "mrr": paired_interval(ours, base, seed),
            "recall_at_1": paired_interval([float(r == 1.0) for r in ours], [float(r == 1.0) for r in base], seed),
        }
    similar = similarity_rules(paraphrases, lookalikes, seed, max_pairs=2000)
    texts = _latency_texts(root, categories, histories)
    latency = time_retrievers(texts, sizes, queries, embed_max, seed)
    for name in RETRIEVER_NAMES:
        quality[name]["latency"] = latency[name]
    return {
        "benchmark": "memory_quality",
        "env": "agile/ProductQA-v2",
        "data": {"folder": str(root), "synthetic": data_dir is None, "split": "train", "categories": categories},
        "model": PAPER_MODEL,
        "retrievers": quality,
        "similar_questions": similar,
        "settings": {
            "products": products, "per_category": per_category, "max_position": max_position, "sizes": sizes,
            "queries": queries, "embed_max": embed_max, "max_answer_repeats": max_answer_repeats, "seed": seed,
            "quick": quick,
        },
        "machine": {"platform": platform.platform(), "cpus": len(os.sched_getaffinity(0)),
                    "load_average": os.getloadavg(), "seconds": time.perf_counter() - started},
    }


def table(results: dict) -> str:
    """The markdown table of `results` (quality, then latency at each size)."""
    rows = []
    for name, row in results["retrievers"].items():
        alike = row["with_lookalike"]
        line = {
            "retriever": name, "recall@1": cell(row["recall_at_1"], 3), "recall@3": cell(row["recall_at_3"], 3),
            "recall@5": cell(row["recall_at_5"], 3), "MRR": cell(row["mrr"], 3),
            "MRR (look-alike in memory)": f"{cell(alike['mrr'], 3)} (n={alike['queries']})",
            "MRR - bm25 [95% CI]": "-",
        }
        if "vs_bm25" in row:
            d = row["vs_bm25"]["mrr"]
            line["MRR - bm25 [95% CI]"] = f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
        for size, lat in row["latency"].items():
            label = f"{int(size) // 1000}k" if int(size) >= 1000 else size
            line[f"step ms @{label}"] = cell(lat["step_ms"], 3)
        rows.append(line)
    columns = {key: key for key in rows[0]}
    return markdown_table(rows, columns)


def _latency_texts(root: Path, categories: list[str], histories: list[ProductHistory]) -> list[str]:
    """The memory entries the latency runs are built from: the quality run's, else every train question's."""
    return [entry for history in histories for entry in history.entries] or [
        f"{q.question} {q.gold_long}" for name in categories for q in load_category(root, "train", name).questions
    ]


def _retime(output: Path, data_dir: Path | None, args: argparse.Namespace) -> int:
    """Replace the latency figures of the results saved at `output` with a new timing run of the same texts."""
    if not output.is_file():
        print(f"memory_quality: --sections latency needs an earlier run's {output}", file=sys.stderr)
        return 2
    results = json.loads(output.read_text())
    settings = results["settings"]
    root = data_dir or builtin_productqa_root()
    histories, _, _ = build_queries(root, results["data"]["categories"], settings["products"],
                                    settings["per_category"], settings["max_answer_repeats"], settings["seed"],
                                    settings["max_position"])
    texts = _latency_texts(root, results["data"]["categories"], histories)
    sizes = args.sizes or settings["sizes"]
    latency = time_retrievers(texts, sizes, args.queries or settings["queries"], args.embed_max, settings["seed"])
    for name in RETRIEVER_NAMES:
        results["retrievers"][name]["latency"] = latency[name]
    results["machine"]["latency_load_average"] = os.getloadavg()
    atomic_write(output, json.dumps(results, indent=2))
    print(table(results))
    print(f"wrote {output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: run, print the table, write the JSON. Returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("AGILE_DATA_DIR"),
                        help="folder holding productqa/ (default: $AGILE_DATA_DIR; else the synthetic built-in data)")
    parser.add_argument("--quick", action="store_true", help="2 categories, short histories, 1k entries")
    parser.add_argument("--products", type=int, default=None, help="products per category (default 5; quick 8)")
    parser.add_argument("--per-category", type=int, default=None, help="queries per category (default 100; quick 20)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="memory sizes timed (default 1k 10k 100k)")
    parser.add_argument("--queries", type=int, default=None, help="timed operations per size (default 50; quick 10)")
    parser.add_argument("--max-position", type=int, default=None,
                        help="only each product's first N questions (default: all; quick 40)")
    parser.add_argument("--embed-max", type=int, default=10000, help="distinct texts embedded for latency")
    parser.add_argument("--max-answer-repeats", type=int, default=3, help="see the module docstring")
    parser.add_argument("--sections", nargs="+", choices=["quality", "latency"], default=["quality", "latency"],
                        help="latency alone re-times the retrievers into an existing --output (a quieter machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="results/memory_quality.json", help="JSON file (default: %(default)s)")
    args = parser.parse_args(argv)
    data_dir = None
    if args.data_dir:
        data_dir = task_data_dir("productqa", args.data_dir)
        if not data_dir.is_dir():
            parser.exit(2, f"memory_quality: no data folder at {args.data_dir}\n")
    if "quality" not in args.sections:
        return _retime(Path(args.output), data_dir, args)
    results = run(
        data_dir, args.quick,
        args.products or (8 if args.quick else 5),
        args.per_category or (20 if args.quick else 100),
        args.sizes or ([1000] if args.quick else [1000, 10000, 100000]),
        args.queries or (10 if args.quick else 50),
        args.embed_max, args.max_answer_repeats, args.seed,
        args.max_position or (40 if args.quick else None),
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(args.output), json.dumps(results, indent=2))
    print(table(results))
    print(f"similar questions: {json.dumps(results['similar_questions']['jaccard'])} (jaccard), "
          f"{json.dumps(results['similar_questions']['cosine_best'])} (best cosine)")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
