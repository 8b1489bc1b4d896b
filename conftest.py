"""Set up for the whole suite, doctests included; pytest imports this file before any test module.

Every cache the suite writes goes to one scratch folder that is removed when pytest ends: the Hugging Face
caches always (HF_HOME; the suite never writes the user's ~/.cache/huggingface), and agile's own cache
(product databases, built-in data, tiny models) unless the shell sets $AGILE_CACHE_DIR to share one between
runs. Doctests of agile_gym (collected by `--doctest-modules`, see pyproject.toml) run on the built-in data,
whatever the shell sets, so their printed output is exact on every machine.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

SCRATCH = Path(tempfile.mkdtemp(prefix="agile-test-"))
os.environ.setdefault("AGILE_CACHE_DIR", str(SCRATCH / "agile-cache"))
# Set before anything imports huggingface_hub, datasets or transformers: they read these once, at import.
os.environ["HF_HOME"] = str(SCRATCH / "huggingface")
for _name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_DATASETS_CACHE", "TRANSFORMERS_CACHE", "HF_MODULES_CACHE"):
    os.environ.pop(_name, None)  # each would send its part elsewhere; without them all follow HF_HOME


def pytest_unconfigure(config):
    shutil.rmtree(SCRATCH, ignore_errors=True)


@pytest.fixture(autouse=True)
def _builtin_data_in_doctests(request, monkeypatch):
    if isinstance(request.node, pytest.DoctestItem):
        monkeypatch.delenv("AGILE_DATA_DIR", raising=False)
