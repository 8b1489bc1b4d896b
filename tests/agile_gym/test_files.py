import json
import os
import stat

import pytest

from agile_gym.files import atomic_write, publish_folder, staged_file


def test_atomic_write_replaces_the_file_with_text_or_bytes(tmp_path):
    path = tmp_path / "deep" / "results.json"
    assert atomic_write(path, "first") == path
    atomic_write(path, b"\x00second")
    assert path.read_bytes() == b"\x00second"
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_a_writer_that_raises_leaves_the_old_file_intact_and_no_stray_file(tmp_path):
    path = tmp_path / "results.json"
    atomic_write(path, "old")
    with pytest.raises(RuntimeError, match="killed"), staged_file(path) as staging:
        staging.write_text("half of the new")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_written_files_are_not_private(tmp_path):
    mask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "shared.md", "x")
    finally:
        os.umask(mask)
    # tempfile makes 0600 files; a result file must read like one written by open().
    assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044


def test_publish_folder_cleans_up_a_failed_write_and_keeps_a_finished_one(tmp_path):
    def broken(folder):
        (folder / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        publish_folder(tmp_path / "model", broken)
    assert list(tmp_path.iterdir()) == []
    publish_folder(tmp_path / "model", lambda folder: (folder / "config.json").write_text('{"a": 1}'))
    # A second writer that loses the race keeps the first copy instead of failing.
    publish_folder(tmp_path / "model", lambda folder: (folder / "config.json").write_text('{"a": 2}'))
    assert json.loads((tmp_path / "model" / "config.json").read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_publish_folder_with_replace_rewrites_and_an_interrupt_keeps_the_old(tmp_path):
    target = tmp_path / "iteration-000001"
    publish_folder(target, lambda folder: (folder / "state.json").write_text("1"), replace=True)
    publish_folder(target, lambda folder: (folder / "state.json").write_text("2"), replace=True)
    assert (target / "state.json").read_text() == "2"

    def interrupted(folder):
        (folder / "state.json").write_text("3")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        publish_folder(target, interrupted, replace=True)
    assert (target / "state.json").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["iteration-000001"]


def test_load_saved_returns_only_what_was_saved_for_the_same_settings(tmp_path):
    from agile_gym.files import load_saved

    path = tmp_path / "entry.json"
    assert load_saved(path, "spec", {"a": 1}) is None  # nothing saved
    atomic_write(path, json.dumps({"spec": {"a": [1, 2]}, "value": 3}))
    assert load_saved(path, "spec", {"a": (1, 2)}) == {"spec": {"a": [1, 2]}, "value": 3}  # compared as JSON
    assert load_saved(path, "spec", {"a": [1, 3]}) is None  # other settings
    path.write_text("{not json")
    assert load_saved(path, "spec", {"a": [1, 2]}) is None
