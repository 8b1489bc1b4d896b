"""Doctests of agile_gym (collected by `--doctest-modules`, see pyproject.toml) run on the built-in data in a
throwaway cache, whatever the shell sets, so their printed output is exact on every machine."""

import os
import tempfile

import pytest

os.environ.setdefault("AGILE_CACHE_DIR", tempfile.mkdtemp(prefix="agile-test-cache-"))


@pytest.fixture(autouse=True)
def _builtin_data_in_doctests(request, monkeypatch):
    if isinstance(request.node, pytest.DoctestItem):
        monkeypatch.delenv("AGILE_DATA_DIR", raising=False)
