import os
from pathlib import Path

import pytest

# The caches (agile's, Hugging Face's) are set up, and removed at the end, by the conftest.py at the root.

_DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data_root() -> Path | None:
    """`$AGILE_DATA_DIR`, else ../shared/data beside the checkout, else None."""
    root = Path(os.environ["AGILE_DATA_DIR"]) if os.environ.get("AGILE_DATA_DIR") else _DEFAULT_SHARED
    return root if root.is_dir() else None


_REAL_DATA = shared_data_root()


@pytest.fixture(autouse=True)
def _builtin_data_by_default(monkeypatch):
    """Tests get the built-in data unless they ask for the real release through a fixture below."""
    monkeypatch.delenv("AGILE_DATA_DIR", raising=False)


def _real_data(task: str) -> Path:
    if _REAL_DATA is None or not (_REAL_DATA / task).is_dir():
        pytest.skip(f"real {task} data not found: set AGILE_DATA_DIR to the folder holding {task}/")
    return _REAL_DATA / task


@pytest.fixture(scope="session")
def productqa_root() -> Path:
    return _real_data("productqa")


@pytest.fixture(scope="session")
def medmcqa_root() -> Path:
    return _real_data("medmcqa")
