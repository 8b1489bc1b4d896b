import os
import tempfile
from pathlib import Path

import pytest

# Derived files (product databases, built-in data) go to a throwaway cache, never the user's.
os.environ.setdefault("AGILE_CACHE_DIR", tempfile.mkdtemp(prefix="agile-test-cache-"))

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


@pytest.fixture(scope="session")
def productqa_root() -> Path:
    root = _REAL_DATA
    if root is None or not (root / "productqa").is_dir():
        pytest.skip("real ProductQA data not found: set AGILE_DATA_DIR to the folder holding productqa/")
    return root / "productqa"


@pytest.fixture(scope="session")
def medmcqa_root() -> Path:
    root = _REAL_DATA
    if root is None or not (root / "medmcqa").is_dir():
        pytest.skip("real MedMCQA data not found: set AGILE_DATA_DIR to the folder holding medmcqa/")
    return root / "medmcqa"
