"""Small built-in ProductQA categories, generated deterministically in the release layout (no download).

Each category has 12 products and about 50 questions of all three types, designed so that AGILE's
machinery matters: some facts are in the product metadata (answerable at once), some come only from
"reviews" and are asked again in other words later in the session (advice once, then history answers),
reasoning questions share one piece of category knowledge each (advice plus reflection once, then
knowledge answers), and search questions have reference SQL (some match no product).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agile_gym.data.paths import cache_dir

_VERSION = "1"
_PRODUCTS_PER_CATEGORY = 12


@dataclass(frozen=True)
class _Spec:
    name: str
    split: str
    noun: str
    brands: tuple[str, ...]
    models: tuple[str, ...]
    price_range: tuple[int, int]
    number: tuple[str, str, tuple[int, ...]]  # column, unit, values
    choice: tuple[str, tuple[str, ...]]  # column, values
    review_flag: tuple[str, str]  # Title Case metadata feature (yes/no) and its question
    hidden_fact: tuple[str, tuple[str, str, str]]  # long-answer fact, three paraphrased questions
    rules: tuple[tuple[str, str, str, str], ...]  # (metadata feature, value that means yes, question, knowledge)


_SPECS = (
    _Spec("desk_lamps", "train", "desk lamp", ("Lumora", "Brightwell", "Halvo", "Nordlys"),
          ("Arc", "Beam", "Glow", "Halo", "Orbit", "Pivot"), (15, 90), ("wattage", "watt", (5, 8, 10, 12, 15)),
          ("color", ("black", "white", "silver")), ("Dimmable", "Can I dim this lamp?"),
          ("the lamp flickers at its lowest setting", ("Does this lamp flicker on the lowest setting?",
           "Is there any flicker when the brightness is turned all the way down?",
           "Will it flicker if I keep it dim?")),
          (("Cool Touch Shade", "yes", "Is this lamp safe to use in a child's bedroom?",
            "desk lamps with a cool-touch shade are safe around children because the shade does not get hot"),
           ("Light Temperature", "warm", "Is this lamp good for reading before sleep?",
            "lamps with warm light temperature suit reading before sleep because warm light disturbs sleep less"))),
    _Spec("water_bottles", "train", "water bottle", ("Aquaro", "Hydrelle", "Sipwell", "Trekflask"),
          ("Summit", "Stream", "Tide", "Glacier", "Canyon", "Mesa"), (8, 45),
          ("capacity", "ounce", (12, 18, 24, 32, 40)),
          ("material", ("steel", "plastic", "glass")), ("Insulated", "Is this bottle insulated?"),
          ("the lid leaks when the bottle lies on its side", ("Does the lid leak if I lay the bottle down?",
           "Will water come out when it is on its side in my bag?", "Is the lid leak-proof when horizontal?")),
          (("Dishwasher Safe", "yes", "Can I clean this bottle without washing it by hand?",
            "bottles marked dishwasher safe can be cleaned in a dishwasher instead of by hand"),
           ("BPA Free", "yes", "Is this bottle a good choice for a toddler's drinks?",
            "only BPA-free bottles are recommended for toddlers' drinks"))),
    _Spec("backpacks", "train", "backpack", ("Packwright", "Ridgeway", "Caravel", "Alpenko"),
          ("Voyager", "Scout", "Nomad", "Ranger", "Drifter", "Pilot"), (25, 140),
          ("volume", "liter", (15, 20, 25, 30, 40)),
          ("material", ("nylon", "polyester", "canvas")), ("Laptop Sleeve", "Does this backpack have a laptop sleeve?"),
          ("the zippers jam when the bag is full", ("Do the zippers get stuck when the bag is packed full?",
           "Is it hard to zip when it is completely full?", "Will the zipper jam if I overpack it?")),
          (("Waterproof", "yes", "Can I carry this backpack in heavy rain without my things getting wet?",
            "only waterproof backpacks keep their contents dry in heavy rain"),
           ("Chest Strap", "yes", "Is this backpack comfortable for long hikes with heavy loads?",
            "a chest strap spreads heavy loads, so backpacks with one are more comfortable on long hikes"))),
    _Spec("headsets", "train", "headset", ("Sonora", "Audix", "Veltra", "Quillon"),
          ("Echo", "Pulse", "Wave", "Nova", "Drift", "Sonic"), (20, 180),
          ("battery_life", "hour", (10, 15, 20, 30, 40)),
          ("connectivity", ("bluetooth", "wired", "usb")), ("Noise Cancelling", "Does this headset cancel noise?"),
          ("the ear cushions get warm after an hour", ("Do the ear pads get hot after a while?",
           "Will my ears feel warm after wearing it for an hour?", "Do the cushions heat up during long calls?")),
          (("Detachable Mic", "yes", "Can I use this headset for music on the go without a mic sticking out?",
            "headsets with a detachable microphone work as plain headphones when the mic is removed"),
           ("Foldable", "yes", "Will this headset fit easily into a small travel bag?",
            "foldable headsets pack into small bags easily"))),
    _Spec("tents", "test", "tent", ("Campora", "Wildhaven", "Pinecrest", "Skyloft"),
          ("Dome", "Ridge", "Cabin", "Tunnel", "Trail", "Bivy"), (40, 320), ("capacity", "person", (1, 2, 3, 4, 6)),
          ("season", ("3-season", "4-season", "summer")), ("Freestanding", "Is this tent freestanding?"),
          ("the rain fly sags when wet", ("Does the rain fly sag when it gets wet?",
           "Will the fly droop in the rain?", "Does the rainfly lose tension after rain?")),
          (("Vestibule", "yes", "Is there somewhere to keep muddy boots out of the sleeping area?",
            "tents with a vestibule give covered storage for boots outside the sleeping area"),
           ("Aluminum Poles", "yes", "Is this tent a good pick for windy mountain camping?",
            "tents with aluminum poles stand up to strong wind better than fiberglass ones"))),
    _Spec("kettles", "test", "kettle", ("Boilwell", "Steamly", "Kettara", "Brewmont"),
          ("Classic", "Swift", "Pour", "Gooseneck", "Studio", "Compact"), (18, 120),
          ("power", "watt", (900, 1200, 1500, 1800, 2200)),
          ("material", ("steel", "glass", "plastic")), ("Temperature Control", "Can I set the water temperature?"),
          ("the handle gets hot near the lid", ("Does the handle get hot close to the lid?",
           "Will I burn my hand on the handle after boiling?", "Is the handle hot to touch near the top?")),
          (("Auto Shutoff", "yes", "Is this kettle safe if I forget it is on?",
            "kettles with automatic shutoff switch off by themselves, so forgetting them is safe"),
           ("Gooseneck Spout", "yes", "Is this kettle good for pour-over coffee?",
            "a gooseneck spout gives the slow, precise pour that pour-over coffee needs"))),
)


def _yes(rng: random.Random) -> str:
    return "yes" if rng.random() < 0.5 else "no"


def _category_files(spec: _Spec) -> tuple[dict, dict, list[dict]]:
    rng = random.Random(f"agile-builtin-{_VERSION}-{spec.name}")
    number_col, unit, number_values = spec.number
    choice_col, choice_values = spec.choice
    schema = {
        "price": {"type": "cloze", "unit": "dollar"},
        "brand": {"type": "choice", "choices": list(spec.brands)},
        number_col: {"type": "cloze", "format": f"_ {unit}", "unit": unit},
        choice_col: {"type": "choice", "choices": list(choice_values)},
        spec.review_flag[0]: {"type": "choice", "choices": ["yes", "no"]},
    }
    rule_values: dict[str, list[str]] = {}
    for feature, yes_value, _, _ in spec.rules:
        values = [yes_value, "no"] if yes_value == "yes" else [yes_value, "cool"]
        rule_values[feature] = values
        schema[feature] = {"type": "choice", "choices": values}
    products: dict[str, dict] = {}
    for i in range(_PRODUCTS_PER_CATEGORY):
        asin = f"B0{spec.name[:2].upper()}{i:06d}"
        brand = spec.brands[i % len(spec.brands)]
        meta = {
            "title": f"{brand} {spec.models[i % len(spec.models)]} {i + 1} {spec.noun.title()}",
            "price": f"{rng.randint(*spec.price_range)}.{rng.choice((0, 49, 99)):02d}".replace(".00", ""),
            "brand": brand,
            number_col: str(rng.choice(number_values)),
            choice_col: rng.choice(choice_values),
            spec.review_flag[0]: _yes(rng),
        }
        for feature, values in rule_values.items():
            meta[feature] = rng.choice(values)
        products[asin] = meta
    asins = list(products)
    questions: list[dict] = []

    def add(qtype: str, asin: str, question: str, short, long: str, extra=None) -> None:
        questions.append({"asin": asin, "question": question, "short_answer": short, "long_answer": long,
                          "type": qtype, "extra_data": extra})

    for asin in asins:  # facts in the metadata
        meta = products[asin]
        if rng.random() < 0.5:
            add("fact_qa", asin, f"Which brand makes this {spec.noun}?", meta["brand"],
                f"This {spec.noun} is made by {meta['brand']}.")
        else:
            flag, question = spec.review_flag
            add("fact_qa", asin, question, meta[flag], f"{meta[flag].capitalize()}: {flag.lower()} is {meta[flag]}.")
    fact, paraphrases = spec.hidden_fact
    for asin in rng.sample(asins, 6):  # facts only reviews know: advice once, then history
        answer = _yes(rng)
        for question in paraphrases:
            long = f"Yes, reviewers report that {fact}." if answer == "yes" else f"No, no reviewer reports that {fact}."
            add("fact_qa", asin, question, answer, long)
    for feature, yes_value, question, knowledge in spec.rules:  # shared knowledge: reflect once, reuse
        for asin in rng.sample(asins, 6):
            answer = "yes" if products[asin][feature] == yes_value else "no"
            add("reasoning_qa", asin, question, answer,
                f"{'Yes' if answer == 'yes' else 'No'}; its {feature.lower()} is {products[asin][feature]}, "
                f"and {knowledge}.",
                {"knowledge": knowledge, "feature_name": feature, "feature_value": products[asin][feature]})
    for _ in range(12):
        questions.append(_search_question(spec, products, rng))
    rng.shuffle(questions)
    counters: dict[str, int] = {}
    for record in questions:
        counters[record["type"]] = counters.get(record["type"], 0) + 1
        record["id"] = f"{record['type']}_{counters[record['type']] - 1}"
    return schema, products, [{"id": r.pop("id"), **r} for r in questions]


def _search_question(spec: _Spec, products: dict[str, dict], rng: random.Random) -> dict:
    number_col, unit, number_values = spec.number
    choice_col, choice_values = spec.choice
    brand = rng.choice(spec.brands)
    budget = rng.randint(*spec.price_range)
    threshold = rng.choice(number_values)
    choice = rng.choice(choice_values)
    templates = [
        (f"I want a {brand} {spec.noun} under ${budget}. What do you have?",
         f'brand = "{brand}" AND price < {budget}', lambda m: m["brand"] == brand and float(m["price"]) < budget),
        (f"Show me a {choice} {spec.noun} with at least {threshold} {unit}s of {number_col.replace('_', ' ')}.",
         f'{choice_col} = "{choice}" AND {number_col} >= {threshold}',
         lambda m: m[choice_col] == choice and float(m[number_col]) >= threshold),
        (f"Any {spec.noun} that is not {choice} and costs at most ${budget}?",
         f'NOT {choice_col} = "{choice}" AND price <= {budget}',
         lambda m: m[choice_col] != choice and float(m["price"]) <= budget),
    ]
    question, where, keep = rng.choice(templates)
    gold = [{"asin": a, "title": m["title"]} for a, m in products.items() if keep(m)]
    sql = f"SELECT product_id FROM `{spec.name}` WHERE {where} ;"
    if gold:
        first = gold[0]
        long = f"The product that fits your requirements is:\n`{first['title']}` with asin: {first['asin']}"
    else:
        long = f"Sorry, no {spec.noun} in our shop matches all of that."
    any_asin = rng.choice(list(products))
    return {"asin": any_asin, "question": question, "short_answer": gold, "long_answer": long, "type": "search_qa",
            "extra_data": {"answer": sql}}


def builtin_answer_visible(category: str, question: str, question_type: str, history_questions: Iterable[str],
                           knowledge: Iterable[str], tools: bool) -> bool | None:
    """The generator's ground truth: whether a prompt showing `history_questions` (this product's retrieved
    history) and `knowledge` (the category's retrieved knowledge) shows the answer of the built-in `question`.

    The generator put every answer in one place: the brand and the flag question in the product's metadata
    (always shown); a hidden fact in the reviews, shown once a history entry of one of its paraphrases is
    retrieved (history is per product; whatever answer the entry holds); a reasoning question's answer in its
    rule, shown once a retrieved knowledge entry holds the rule's text (case-insensitive); a search question's
    answer in the product table, shown when `tools` offers the search. None for a category or question the
    generator did not write.
    """
    spec = next((s for s in _SPECS if s.name == category), None)
    if spec is None:
        return None
    if question_type == "search_qa":
        return tools
    if question in (f"Which brand makes this {spec.noun}?", spec.review_flag[1]):
        return True
    paraphrases = spec.hidden_fact[1]
    if question in paraphrases:
        return any(past in paraphrases for past in history_questions)
    rule = next((knowledge_text for _, _, asked, knowledge_text in spec.rules if asked == question), None)
    if rule is None:
        return None
    return any(rule.casefold() in text.casefold() for text in knowledge)


def write_builtin_productqa(root: str | Path) -> Path:
    """Write every built-in category under `root/{train,test}/<category>/` in the release layout."""
    root = Path(root)
    for spec in _SPECS:
        schema, products, questions = _category_files(spec)
        folder = root / spec.split / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "schema.json").write_text(json.dumps(schema, indent=2), encoding="utf-8")
        (folder / "metadata.json").write_text(json.dumps(products, indent=2), encoding="utf-8")
        with (folder / "qa.jsonl").open("w", encoding="utf-8") as out:
            for record in questions:
                out.write(json.dumps(record) + "\n")
    return root


def builtin_productqa_root() -> Path:
    """The built-in data's folder in the cache, generated on first use (atomically, safe across processes)."""
    target = cache_dir() / f"builtin_productqa-v{_VERSION}"
    if not target.is_dir():
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".builtin-"))
        write_builtin_productqa(staging)
        try:
            os.rename(staging, target)
        except OSError:  # another process finished first; its copy is identical
            shutil.rmtree(staging, ignore_errors=True)
    return target


BUILTIN_CATEGORIES = {split: [s.name for s in _SPECS if s.split == split] for split in ("train", "test")}
