"""`python -m benchmarks.fidelity --quick`: every stage runs, the files carry their stable keys, a rerun resumes
from the cache. The findings themselves are not checked here (tiny budgets learn nothing)."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("scipy")
pytest.importorskip("matplotlib")

from benchmarks.fidelity import FidelityConfig, main  # noqa: E402
from benchmarks.sessions import ABLATIONS  # noqa: E402

# --quick cuts actions at 32 tokens, so SFT warns that it cut expert actions: expected here.
pytestmark = pytest.mark.filterwarnings("ignore:.*expert actions are longer")
STAGES = {"sft", "ppo_c0.1", "ppo_c0.3", "ppo_c0.5", *(f"ppo_c0.3_no_{name}" for name in ABLATIONS)}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fidelity")
    assert main(["--quick", "--quiet", "--output-dir", str(folder)]) == 0
    return folder


def test_quick_run_writes_every_stage_and_test(quick_run):
    results = json.loads((quick_run / "fidelity.json").read_text())
    assert {"env", "config", "versions", "gate", "seeds", "stages", "tests", "timing"} <= set(results)
    assert results["env"]["id"] == FidelityConfig().env and results["env"]["version"] in ("v0", "v1", "v2")
    assert results["seeds"] == [0]
    assert set(results["stages"]) == STAGES
    for stage in results["stages"].values():
        assert set(stage["per_seed"]) == {"0"}
        summary = stage["per_seed"]["0"]
        # 2 test categories x 2 orders x the 6-question cap of --quick
        assert summary["questions"] == 24
        assert {"total_score", "accuracy", "advice_rate", "p_ask_visible", "p_ask_hidden", "advice_q1",
                "advice_q4"} <= set(summary)
        assert set(stage["mean"]["total_score"]) == {"mean", "low", "high", "n"}
    names = [test["name"] for test in results["tests"]]
    assert len(names) == 2 + 1 + 1 + 2 + len(ABLATIONS) and len(set(names)) == len(names)
    for test in results["tests"]:
        assert {"name", "p_value", "seeds_agreeing", "effect", "bootstrap_p"} <= set(test)
        assert test["p_value"] is None  # one seed: no t-test
    gate = results["gate"]
    assert gate["validation_category"] == "headsets"
    # Held out of training while the gate passes; joins the training categories when it fails.
    assert (gate["validation_category"] in gate["train_categories"]) == (not gate["passed"])
    assert results["versions"]["scipy"]


def test_quick_run_writes_markdown_and_plots(quick_run):
    markdown = (quick_run / "fidelity.md").read_text()
    env = FidelityConfig().env
    # Every table names the env id, in each of its rows.
    assert markdown.count(f"| {env} |") == 8 + 10 + 8
    for name in ("advice_along_session.png", "advice_cost.png"):
        assert (quick_run / name).read_bytes()[:4] == b"\x89PNG"


def test_rerun_resumes_from_the_cache(quick_run):
    before = json.loads((quick_run / "fidelity.json").read_text())
    assert main(["--quick", "--quiet", "--output-dir", str(quick_run)]) == 0
    after = json.loads((quick_run / "fidelity.json").read_text())
    assert after["timing"] == {}  # nothing trained or played again
    assert after["stages"] == before["stages"]


def test_cut_short_ppo_resumes_from_its_checkpoint(quick_run):
    run = quick_run / "seed0" / "ppo_c0.1"
    checkpoints = {path.name: path.stat().st_mtime_ns for path in (run / "checkpoints").iterdir()}
    # As if the command had stopped after the checkpoint but before the stage was marked done and evaluated.
    (run / "fidelity_stage.json").unlink()
    (quick_run / "seed0" / "eval" / "ppo_c0.1.json").unlink()
    assert main(["--quick", "--quiet", "--output-dir", str(quick_run)]) == 0
    after = json.loads((quick_run / "fidelity.json").read_text())
    assert set(after["timing"]) == {"seed0/ppo_c0.1", "seed0/eval/ppo_c0.1"}
    # Resumed: the same checkpoints, untouched (a wiped run would have written them anew).
    assert {path.name: path.stat().st_mtime_ns for path in (run / "checkpoints").iterdir()} == checkpoints
