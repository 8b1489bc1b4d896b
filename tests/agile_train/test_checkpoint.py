import json

import pytest

from agile_train.checkpoint import latest_checkpoint
from agile_train.ppo import train_ppo
from tests.agile_train.conftest import toy_config


def test_a_write_killed_mid_checkpoint_leaves_the_last_good_one(tmp_path, monkeypatch):
    from agile_train import checkpoint

    run = tmp_path / "run"
    train_ppo(*toy_config(tmp_path, iterations=2, checkpoint_every=1), progress=False)
    assert latest_checkpoint(run).name == "iteration-000002"

    real_save = checkpoint.torch.save

    def dying_save(obj, path, *args, **kwargs):
        if str(path).endswith("scheduler.pt"):
            raise KeyboardInterrupt("killed while writing")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        train_ppo(*toy_config(tmp_path, iterations=3, checkpoint_every=1, resume=True), progress=False)
    monkeypatch.undo()
    assert latest_checkpoint(run).name == "iteration-000002"
    assert not list((run / "checkpoints").glob("*.tmp-*")), "a half-written checkpoint was left behind"
    (resumed,) = train_ppo(*toy_config(tmp_path, iterations=3, resume=True), progress=False)
    assert resumed["iteration"] == 3
    assert json.loads((latest_checkpoint(run) / "trainer_state.json").read_text())["iteration"] == 3

