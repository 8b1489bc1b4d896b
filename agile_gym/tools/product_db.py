"""Build the SQLite product database of a ProductQA category from its schema.json and metadata.json.

One table per category, named after it: `id`, `asin`, `title`, then one column per feature of
`Category.columns` (every snake_case feature of the schema, and every one the products carry that the schema
does not list; NUMERIC or TEXT, see `agile_gym.data.productqa.feature_columns`). The Title Case features come
from reviews and have no column, as in the release's database. `product_id` is a generated column equal to
`asin`, because the release's reference SQL selects `product_id`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from agile_gym.data.paths import cache_dir
from agile_gym.data.types import Category
from agile_gym.files import staged_file

_BUILDER_VERSION = "2"  # 2: columns from Category.columns (schema plus what the products carry)


def column_types(category: Category) -> list[tuple[str, str]]:
    """(column, SQL type) for every feature column of the category's table, in table order."""
    return [(column.name, "NUMERIC" if column.numeric else "TEXT") for column in category.columns]


def quote_name(name: str) -> str:
    """`name` as an SQL identifier in double quotes (a quote inside doubled), for any category or feature name."""
    return '"' + name.replace('"', '""') + '"'


def content_hash(category: Category) -> str:
    """A short hash of everything the database is built from: its file name, so changed data gets a new one."""
    payload = json.dumps(
        [_BUILDER_VERSION, category.name, category.schema, category.products, column_types(category)],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def build_product_db(category: Category, directory: str | Path | None = None) -> Path:
    """Path of the category's database, building it once per content hash (atomically) when absent."""
    folder = Path(directory) if directory is not None else cache_dir() / "productqa_db"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{category.name}-{content_hash(category)}.sqlite"
    if path.exists():
        return path
    columns = column_types(category)
    with staged_file(path) as staging:
        conn = sqlite3.connect(staging)
        with conn:
            table = quote_name(category.name)
            column_sql = "".join(f", {quote_name(name)} {sql_type}" for name, sql_type in columns)
            conn.execute(
                f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, asin TEXT NOT NULL UNIQUE, "
                f"title TEXT{column_sql}, product_id TEXT GENERATED ALWAYS AS (asin) VIRTUAL)"
            )
            names = ["asin", "title", *(name for name, _ in columns)]
            placeholders = ", ".join("?" for _ in names)
            quoted = ", ".join(map(quote_name, names))
            conn.executemany(
                f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})",
                [
                    (asin, meta.get("title"), *(meta.get(name) for name, _ in columns))
                    for asin, meta in category.products.items()
                ],
            )
        conn.close()
    return path
