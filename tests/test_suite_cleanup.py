"""The suite writes no cache of the user's, leaves no scratch folder behind (conftest.py at the root) and says
why it skips a test (pyproject.toml's addopts)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_a_pytest_run_writes_no_user_cache_removes_its_scratch_folder_and_says_why_it_skips(tmp_path):
    pytest.importorskip("datasets")
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    scratch.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "XDG_")) and key != "AGILE_CACHE_DIR"}
    env.update(HOME=str(home), TMPDIR=str(scratch), AGILE_DATA_DIR=str(tmp_path / "no-data-here"))
    # The first loads a datasets folder with `datasets.load_dataset`, which writes the Hugging Face cache; the
    # second needs the real data, so it skips, and says why (pyproject's -rs).
    tests = ["tests/agile_gym/test_medmcqa.py::test_parquet_and_datasets_folders_load",
             "tests/benchmarks/test_run.py::test_results_md_names_the_release_folder"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 passed, 1 skipped" in done.stdout
    assert "SKIPPED [1] tests/benchmarks/test_run.py:" in done.stdout and "real productqa data not found" in done.stdout
    assert not (home / ".cache").exists(), sorted(str(p) for p in (home / ".cache").rglob("*"))[:10]
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("agile-test")]
