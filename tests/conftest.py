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


@pytest.fixture(scope="session")
def productqa_root() -> Path:
    root = shared_data_root()
    if root is None or not (root / "productqa").is_dir():
        pytest.skip("real ProductQA data not found: set AGILE_DATA_DIR to the folder holding productqa/")
    return root / "productqa"
