import json

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from agile_train.sb3 import main, make_env, run_session, train_ppo_policy  # noqa: E402


def test_short_ppo_run_beats_a_random_policy_on_held_out_categories():
    model = train_ppo_policy("agile/ProductQA-v2", {}, 0.3, timesteps=6000, n_envs=2, seed=0, max_questions=None,
                             progress=False)
    test_env = make_env("agile/ProductQA-v2", {}, "test", 0.3)
    learned, _ = run_session(test_env, lambda obs: int(model.predict(obs, deterministic=True)[0]), seed=0)
    rng = np.random.default_rng(0)
    random_policy, _ = run_session(test_env, lambda obs: int(rng.integers(3)), seed=0)
    assert learned["total_score"] > random_policy["total_score"] + 0.03, (learned, random_policy)


def test_cli_writes_every_policy_and_a_png(tmp_path):
    assert main(["--timesteps", "512", "--n-envs", "1", "--output-dir", str(tmp_path), "--quiet",
                 "--advice-costs", "0.5"]) == 0
    report = json.loads((tmp_path / "results.json").read_text())
    policies = {(row["policy"], row["advice_cost"]) for row in report["results"]}
    assert policies == {(p, 0.5) for p in ("always-advice", "never-advice", "best-threshold", "sb3-ppo")}
    (always,) = [row for row in report["results"] if row["policy"] == "always-advice"]
    assert always["total_score"] == pytest.approx(0.5) and always["advice_rate"] == 1.0
    for row in report["results"]:
        assert {"total_score", "accuracy", "advice_rate"} <= set(row)
    assert (tmp_path / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "best-threshold" in (tmp_path / "results.md").read_text()
