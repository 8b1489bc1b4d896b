import json

import pytest

from agile_train.checkpoint import latest_checkpoint
from agile_train.folders import publish_folder
from agile_train.ppo import train_ppo
from tests.agile_train.conftest import toy_config


def test_a_write_killed_mid_checkpoint_leaves_the_last_good_one(tmp_path, monkeypatch):
    import agile_train.checkpoint as checkpoint

    run = tmp_path / "run"
    train_ppo(toy_config(tmp_path, iterations=2, checkpoint_every=1), progress=False)
    assert latest_checkpoint(run).name == "iteration-000002"

    real_save = checkpoint.torch.save

    def dying_save(obj, path, *args, **kwargs):
        if str(path).endswith("scheduler.pt"):
            raise KeyboardInterrupt("killed while writing")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        train_ppo(toy_config(tmp_path, iterations=3, checkpoint_every=1, resume=True), progress=False)
    monkeypatch.undo()
    assert latest_checkpoint(run).name == "iteration-000002"
    assert not list((run / "checkpoints").glob("*.tmp-*")), "a half-written checkpoint was left behind"
    (resumed,) = train_ppo(toy_config(tmp_path, iterations=3, resume=True), progress=False)
    assert resumed["iteration"] == 3
    assert json.loads((latest_checkpoint(run) / "trainer_state.json").read_text())["iteration"] == 3


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
