"""Build the SQLite product database of a ProductQA category from its schema.json and metadata.json.

One table per category, named after it: `id`, `asin`, `title`, then one column per snake_case schema
feature (NUMERIC for cloze features, TEXT for choices). The Title Case features come from reviews and have
no column, as in the release's database. `product_id` is a generated column equal to `asin`, because the
release's reference SQL selects `product_id`.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path

from agile_gym.data.paths import cache_dir
from agile_gym.data.types import Category
from agile_gym.files import staged_file

_BUILDER_VERSION = "1"
_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def feature_columns(schema: dict) -> list[tuple[str, str]]:
    """(column, SQL type) for every schema feature that becomes a database column."""
    columns = []
    for name, spec in schema.items():
        if _COLUMN_NAME.match(name) and name not in ("id", "asin", "title", "product_id"):
            columns.append((name, "NUMERIC" if spec.get("type") == "cloze" else "TEXT"))
    return columns


def content_hash(category: Category) -> str:
    payload = json.dumps(
        [_BUILDER_VERSION, category.name, category.schema, category.products], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def build_product_db(category: Category, directory: str | Path | None = None) -> Path:
    """Path of the category's database, building it once per content hash (atomically) when absent."""
    folder = Path(directory) if directory is not None else cache_dir() / "productqa_db"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{category.name}-{content_hash(category)}.sqlite"
    if path.exists():
        return path
    columns = feature_columns(dict(category.schema))
    with staged_file(path) as staging:
        conn = sqlite3.connect(staging)
        with conn:
            column_sql = "".join(f', "{name}" {sql_type}' for name, sql_type in columns)
            conn.execute(
                f'CREATE TABLE "{category.name}" (id INTEGER PRIMARY KEY, asin TEXT NOT NULL UNIQUE, '
                f"title TEXT{column_sql}, product_id TEXT GENERATED ALWAYS AS (asin) VIRTUAL)"
            )
            names = ["asin", "title", *(name for name, _ in columns)]
            placeholders = ", ".join("?" for _ in names)
            quoted = ", ".join(f'"{n}"' for n in names)
            conn.executemany(
                f'INSERT INTO "{category.name}" ({quoted}) VALUES ({placeholders})',
                [
                    (asin, meta.get("title"), *(meta.get(name) for name, _ in columns))
                    for asin, meta in category.products.items()
                ],
            )
        conn.close()
    return path
