import json
import threading

import pytest

from benchmarks.report import headline_rows, load_report, render_markdown, summarize
from benchmarks.run import main
from tests.benchmarks.chat_server import ChatServer

FLAKY = "tests.benchmarks.agents_for_tests:FlakyAdviceAgent"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(tmp_path, *args):
    return main(["--output-dir", str(tmp_path), "--quiet", *args])


def rows_of(tmp_path, **where):
    report = json.loads((tmp_path / "results.json").read_text())
    return [row for row in report["rows"] if all(row[k] == v for k, v in where.items())]


def test_scripted_agents_give_known_numbers(tmp_path):
    assert run(tmp_path, "--agent", "always-advice", "--agent", "oracle", "--advice-cost", "0.1", "0.3") == 0
    for cost in (0.1, 0.3):
        always = rows_of(tmp_path, agent="always-advice", advice_cost=cost)
        assert {row["category"] for row in always} == {"kettles", "tents", "question-weighted", "mean of categories"}
        for row in always:
            assert row["total_score"] == pytest.approx(1 - cost, abs=1e-12)
            assert row["advice_rate"] == 1.0 and row["accuracy"] == 1.0
        for row in rows_of(tmp_path, agent="oracle", advice_cost=cost):
            assert (row["accuracy"], row["advice_rate"], row["total_score"]) == (1.0, 0.0, 1.0)
    overall = rows_of(tmp_path, agent="oracle", category="question-weighted")[0]
    assert overall["questions"] == 108 and set(overall["per_type"]) == {"fact_qa", "reasoning_qa", "search_qa"}


def test_report_round_trips_and_plots_are_pngs(tmp_path):
    assert run(tmp_path, "--agent", "never-advice", "--agent", "expert", "--advice-cost", "0.1", "0.5") == 0
    report = load_report(tmp_path / "results.json")
    assert json.loads(json.dumps(report)) == report
    assert render_markdown(report) == (tmp_path / "results.md").read_text()
    assert report["config"]["advice_cost"] == [0.1, 0.5] and report["versions"]["gymnasium"]
    assert report["reported"]["rows"][0]["method"] == "gpt3.5-prompt" and "2405.14751" in report["reported"]["citation"]
    assert "Reported in the paper (not rerun here" in (tmp_path / "results.md").read_text()
    expert = {row["advice_cost"]: row for row in rows_of(tmp_path, agent="expert", category="question-weighted")}
    assert expert[0.1]["total_score"] > expert[0.5]["total_score"]
    for name in ("session_curve.png", "tradeoff.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
        import matplotlib.image

        assert matplotlib.image.imread(tmp_path / name).ndim == 3


def test_ablations_switch_capabilities_off_and_label_rows(tmp_path):
    assert run(tmp_path, "--agent", "always-advice", "--agent", "expert", "--ablate", "advice",
               "--ablate", "memory+reflection") == 0
    no_advice = rows_of(tmp_path, agent="always-advice", ablation="advice", category="question-weighted")[0]
    assert no_advice["invalid_action_rate"] == 1.0 and no_advice["total_score"] == 0.0
    full = rows_of(tmp_path, agent="expert", ablation="full", category="question-weighted")[0]
    no_memory = rows_of(tmp_path, agent="expert", ablation="memory+reflection", category="question-weighted")[0]
    assert no_memory["advice_rate"] > full["advice_rate"]
    sessions = json.loads((tmp_path / "results.json").read_text())["sessions"]
    kwargs = {s["spec"]["ablation"]: s["spec"]["env_kwargs"] for s in sessions}
    assert kwargs["memory+reflection"]["memory"] is False and kwargs["memory+reflection"]["reflection"] is False
    assert "w/o memory+reflection" in (tmp_path / "results.md").read_text()


def test_bad_ablation_and_agent_are_clear_errors(tmp_path, capsys, monkeypatch):
    assert run(tmp_path, "--ablate", "planning") == 2
    assert "choose from memory, reflection, advice, tools" in capsys.readouterr().err
    assert run(tmp_path, "--agent", "no_such_module:Agent") == 2
    assert "cannot import Agent from no_such_module" in capsys.readouterr().err
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert run(tmp_path, "--agent", "openai:gpt-4o") == 2
    assert "set $OPENAI_API_KEY, or pass --base-url" in capsys.readouterr().err


def test_a_crashed_session_is_reported_and_the_rerun_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AGILE_TEST_FAIL_CATEGORY", "tents")
    assert run(tmp_path, "--agent", FLAKY) == 1
    report = json.loads((tmp_path / "results.json").read_text())
    assert [row["category"] for row in report["rows"]] == ["kettles"]
    assert "agent crashed on purpose" in report["failures"][0]["error"]
    saved = next((tmp_path / "sessions").rglob("kettles.json"))
    first_write = saved.stat().st_mtime_ns
    monkeypatch.delenv("AGILE_TEST_FAIL_CATEGORY")
    capsys.readouterr()
    assert run(tmp_path, "--agent", FLAKY) == 0
    assert "1 finished session(s) reused" in capsys.readouterr().err
    assert saved.stat().st_mtime_ns == first_write
    categories = {row["category"] for row in rows_of(tmp_path)}
    assert categories == {"kettles", "tents", "question-weighted", "mean of categories"}


def test_an_interrupted_run_keeps_finished_sessions(tmp_path, monkeypatch):
    monkeypatch.setenv("AGILE_TEST_FAIL_CATEGORY", "tents")
    monkeypatch.setenv("AGILE_TEST_INTERRUPT", "1")
    assert run(tmp_path, "--agent", FLAKY, "--batch-size", "1") == 130
    assert [p.name for p in (tmp_path / "sessions").rglob("*.json")] == ["kettles.json"]
    monkeypatch.delenv("AGILE_TEST_FAIL_CATEGORY")
    assert run(tmp_path, "--agent", FLAKY, "--batch-size", "1") == 0
    assert len(rows_of(tmp_path, agent=FLAKY)) == 4


def test_a_changed_setting_does_not_reuse_sessions(tmp_path, capsys):
    assert run(tmp_path, "--agent", "always-advice", "--max-questions", "4") == 0
    capsys.readouterr()
    assert run(tmp_path, "--agent", "always-advice", "--max-questions", "6") == 0
    assert "reused" not in capsys.readouterr().err
    assert rows_of(tmp_path, category="question-weighted")[0]["questions"] == 12


def test_batch_agents_see_every_open_session_at_once(tmp_path):
    from tests.benchmarks.agents_for_tests import EchoBatchAgent

    EchoBatchAgent.calls.clear()
    assert run(tmp_path, "--agent", "tests.benchmarks.agents_for_tests:EchoBatchAgent", "--max-questions", "5") == 0
    assert EchoBatchAgent.calls[0] == 2 and sum(EchoBatchAgent.calls) == 10


def test_openai_agent_retries_server_errors(tmp_path, monkeypatch):
    pytest.importorskip("openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ChatServer(fail_first=2) as server:
        code = run(tmp_path, "--agent", "openai:stand-in", "--base-url", server.base_url, "--max-questions", "3",
                   "--retries", "3", "--advice-cost", "0.3")
    assert code == 0
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("openai-agent")]  # closed
    assert server.requests == 2 + 12  # two 500s retried; 2 sessions x 3 questions x (advice + reflection)
    overall = rows_of(tmp_path, category="question-weighted")[0]
    assert overall["total_score"] == pytest.approx(0.7) and overall["completion_tokens"] == 24
    assert overall["prompt_tokens"] > 0


@pytest.mark.parametrize("trouble", ["error", "timeout"])
def test_openai_failures_are_reported_without_losing_finished_sessions(tmp_path, monkeypatch, trouble):
    pytest.importorskip("openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = ChatServer(fail_when="category tents") if trouble == "error" else \
        ChatServer(slow_when="category tents", slow_s=1.5)
    with server:
        code = run(tmp_path, "--agent", "openai:stand-in", "--base-url", server.base_url, "--max-questions", "3",
                   "--retries", "1", "--request-timeout-s", "0.3")
    assert code == 1
    report = json.loads((tmp_path / "results.json").read_text())
    assert [row["category"] for row in report["rows"]] == ["kettles"]
    (failure,) = report["failures"]
    assert failure["spec"]["category"] == "tents"
    assert ("HTTP 500 Internal Server Error" if trouble == "error" else "no complete reply within the 0.3 s deadline") \
        in failure["error"]
    assert "retries: 1," in failure["error"]
    assert "1 session(s) failed" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "sessions").rglob("kettles.json")


def test_hf_agent_runs_a_tiny_local_model(tmp_path):
    pytest.importorskip("torch")
    assert run(tmp_path, "--agent", "hf:tiny", "--max-questions", "2", "--max-new-tokens", "6") == 0
    report = json.loads((tmp_path / "results.json").read_text())
    overall = next(row for row in report["rows"] if row["category"] == "question-weighted")
    assert overall["questions"] == 4 and 0 < overall["completion_tokens"] <= 4 * 6 * 2
    assert overall["prompt_tokens"] > overall["completion_tokens"]
    assert report["agents"]["hf:tiny"]["kind"] == "hf" and report["agents"]["hf:tiny"]["model"]



def _session(category: str, questions: int, correct: int) -> dict:
    accuracy = correct / questions
    metrics = {"questions": questions, "accuracy": accuracy, "advice_rate": 0.0, "total_score": accuracy,
               "invalid_action_rate": 0.0, "per_type": {}}
    return {"spec": {"agent": "a", "advice_cost": 0.3, "ablation": "full", "category": category}, "metrics": metrics,
            "wall_s": 1.0, "trace": {}}


def test_the_headline_rows_are_the_mean_of_categories_then_the_question_weighted_figure():
    rows = summarize([_session("kettles", 1, 1), _session("tents", 3, 0)])
    assert [row["category"] for row in rows] == ["kettles", "tents", "mean of categories", "question-weighted"]
    assert rows[2]["accuracy"] == pytest.approx(0.5) and rows[3]["accuracy"] == pytest.approx(0.25)
    assert rows[2]["questions"] == rows[3]["questions"] == 4
    assert [row["category"] for row in headline_rows(rows)] == ["mean of categories", "question-weighted"]
    one = summarize([_session("kettles", 2, 1)])
    assert headline_rows(one) == one


def test_results_and_the_tradeoff_plot_show_both_headline_figures_labelled(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from agile_gym import results

    drawn = {}

    def keep(figure, path, dpi=110):
        # one cost: the right panel has one bar of total score per line
        drawn.update({bars.get_label(): [bar.get_width() for bar in bars] for bars in figure.axes[1].containers})
        return path

    monkeypatch.setattr(results, "save_figure", keep)
    assert run(tmp_path, "--agent", "never-advice", "--max-questions", "6") == 0
    rows = {row["category"]: row for row in rows_of(tmp_path)}
    markdown = (tmp_path / "results.md").read_text()
    headline, per_category = markdown.split("## Per category")
    assert "| mean of categories |" in headline and "| question-weighted |" in headline
    assert "| kettles |" not in headline
    assert "| kettles |" in per_category and "question-weighted" not in per_category.split("## Reported")[0]
    assert drawn == {"never-advice (mean of categories)": [pytest.approx(rows["mean of categories"]["total_score"])],
                     "never-advice (question-weighted)": [pytest.approx(rows["question-weighted"]["total_score"])]}


AGENT_SOURCE = '''
from agile_gym.agents import AlwaysAdviceAgent


class Agent(AlwaysAdviceAgent):
    """Version {version}."""
'''


def _reused(capsys) -> str:
    return "".join(line for line in capsys.readouterr().err.splitlines(keepends=True) if "reused" in line)


def test_saved_sessions_are_keyed_by_the_agent_code_the_env_code_and_the_data(tmp_path, capsys, monkeypatch):
    import shutil

    import benchmarks.run
    from agile_gym.data.builtin import builtin_productqa_root

    data = tmp_path / "data"
    shutil.copytree(builtin_productqa_root(), data)
    agent_file = tmp_path / "code" / "agent_under_test.py"
    agent_file.parent.mkdir()
    agent_file.write_text(AGENT_SOURCE.format(version=1))
    monkeypatch.syspath_prepend(str(agent_file.parent))
    out = tmp_path / "out"
    argv = ["--agent", "agent_under_test:Agent", "--data-dir", str(data), "--max-questions", "3"]
    assert run(out, *argv) == 0
    capsys.readouterr()
    assert run(out, *argv) == 0
    assert "2 finished session(s) reused" in _reused(capsys)

    agent_file.write_text(AGENT_SOURCE.format(version=2))  # the agent's code changes under the same name
    assert run(out, *argv) == 0
    assert _reused(capsys) == ""

    qa = data / "test" / "tents" / "qa.jsonl"  # one category's data changes
    qa.write_text("".join(qa.read_text().splitlines(keepends=True)[:-1]))
    assert run(out, *argv) == 0
    assert "1 finished session(s) reused" in _reused(capsys)  # kettles only

    monkeypatch.setattr(benchmarks.run, "env_code_digest", lambda: "graded under other rules")
    assert run(out, *argv) == 0
    assert _reused(capsys) == ""


def test_hf_agents_are_keyed_by_the_bytes_of_their_weights_and_adapters(tmp_path):
    pytest.importorskip("torch")
    from benchmarks.agents import AgentOptions
    from benchmarks.provenance import agent_fingerprint

    base, adapter = tmp_path / "base", tmp_path / "adapter"
    base.mkdir()
    adapter.mkdir()
    (base / "config.json").write_text("{}")
    (base / "model.safetensors").write_bytes(b"weights 1")
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    (adapter / "adapter_model.safetensors").write_bytes(b"adapter 1")
    options = AgentOptions()
    first = agent_fingerprint(f"hf:{adapter}", options)
    assert set(first) == {"code", "base", "adapter"} and first == agent_fingerprint(f"hf:{adapter}", options)
    (adapter / "adapter_model.safetensors").write_bytes(b"adapter 2")
    second = agent_fingerprint(f"hf:{adapter}", options)
    assert second["adapter"] != first["adapter"] and second["base"] == first["base"]
    (base / "model.safetensors").write_bytes(b"weights 2")
    assert agent_fingerprint(f"hf:{adapter}", options)["base"] != second["base"]
    assert agent_fingerprint(f"hf:{base}", options)["base"] == agent_fingerprint(f"hf:{adapter}", options)["base"]


def _section(markdown: str, heading: str) -> str:
    return markdown.split(heading, 1)[1].split("\n## ", 1)[0]


def test_results_md_says_what_it_measured_and_marks_synthetic_data(tmp_path):
    assert run(tmp_path, "--agent", "never-advice", "--max-questions", "5") == 0
    markdown = (tmp_path / "results.md").read_text()
    head = markdown.split("| agent |")[0]
    assert "**Synthetic data**" in head and "- Data: built-in ProductQA (synthetic)" in head
    assert "- Split: test" in head and "- Categories (questions each): kettles (54), tents (54)" in head
    assert "- Questions played per agent, cost and ablation: 10 (108 in the data; sessions capped at 5" in head
    assert "- Memory preloaded: no" in head and "mean of categories" in head
    ours = next(line for line in markdown.splitlines() if line.startswith("| agent |"))
    reported = _section(markdown, "## Reported in the paper (not rerun here)")
    theirs = next(line for line in reported.splitlines() if line.startswith("| method"))
    order = ["accuracy", "advice rate", "total score"]
    assert [ours.index(name) for name in order] == sorted(ours.index(name) for name in order)
    assert [theirs.index(name) for name in order] == sorted(theirs.index(name) for name in order)
    assert reported.count("c = 0.3") == 1 and "not on the synthetic data above" in reported
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["config"]["data"]["synthetic"] is True


def test_the_medmcqa_report_speaks_of_one_session_and_its_preloaded_memory(tmp_path):
    from agile_gym.data.builtin_medmcqa import builtin_medmcqa_records

    memory = tmp_path / "memory.jsonl"
    memory.write_text("".join(json.dumps(record) + "\n" for record in builtin_medmcqa_records()[:3]))
    assert run(tmp_path / "out", "--env", "agile/MedMCQA-v2", "--agent", "never-advice", "--max-questions", "4",
               "--env-kwargs", json.dumps({"memory_init": str(memory)})) == 0
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "ProductQA" not in markdown and "One session over all the questions" in markdown
    assert f"- Memory preloaded: yes: {memory}" in markdown
    assert "Protocol: the MedMCQA dev set as one session, memory preloaded with the training set" in markdown


@pytest.mark.real_data
def test_results_md_names_the_release_folder(tmp_path, productqa_root):
    assert run(tmp_path, "--agent", "oracle", "--data-dir", str(productqa_root), "--category", "leggings",
               "--max-questions", "3") == 0
    head = (tmp_path / "results.md").read_text().split("| agent |")[0]
    assert f"- Data: {productqa_root.resolve()}" in head and "Synthetic" not in head
    assert "- Categories (questions each): leggings (" in head


def test_an_agent_that_cannot_start_is_reported_as_such_and_draws_no_empty_plots(tmp_path, capsys):
    assert run(tmp_path, "--agent", "tests.benchmarks.agents_for_tests:BrokenBatchAgent", "--max-questions", "2") == 1
    err = capsys.readouterr().err
    assert "could not start: RuntimeError: weights are corrupt; fix the agent, then rerun" in err
    assert "rerun the same command to retry" not in err and "no session finished: no plots drawn" in err
    assert "did not run**: agent could not start" in (tmp_path / "results.md").read_text()
    assert not list(tmp_path.glob("*.png"))
