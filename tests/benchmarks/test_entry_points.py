"""Every `python -m benchmarks.*` entry point: bad input ends it before any work with one line on stderr that
names the valid values, and exit code 2 (agile_gym and agile_train: tests/test_entry_points.py)."""

import importlib

import pytest

# module -> {case: (argv, what the one line must name)}
BAD_INPUT = {
    "benchmarks.run": {
        "bad env id": (["--env", "agile/NoSuchEnv-v2"], "agile/ProductQA-v2"),
        "bad JSON": (["--env-kwargs", "{not json"], "--env-kwargs is not JSON"),
        "JSON not an object": (["--env-kwargs", "[1]"], "JSON object"),
        "missing folder": (["--data-dir", "/no/such/folder"], "/no/such/folder"),
        "missing file": (["--env", "agile/MedMCQA-v2", "--data-files", "/no/such/dev.jsonl"], "/no/such/dev.jsonl"),
        "wrong category": (["--category", "legings"], "kettles, tents"),
        "category of an env without": (["--env", "agile/MedMCQA-v2", "--category", "x"], "has no categories"),
        "wrong ablation": (["--ablate", "planning"], "memory, reflection, advice, tools"),
        "wrong agent": (["--agent", "orcale"], "oracle"),
        "bad cost": (["--advice-cost", "1.5"], "[0, 1]"),
        # a bad second agent stops the run before the first agent's sessions
        "missing model folder": (["--agent", "expert", "--agent", "hf:/no/such/model"], "/no/such/model"),
    },
    "benchmarks.fidelity": {
        "bad env id": (["--env", "agile/NoSuchEnv-v2"], "agile/ProductQA-v2"),
        "missing folder": (["--model", "/no/such/model"], "/no/such/model"),
        "wrong category": (["--validation-category", "legings"], "headsets"),
    },
    "benchmarks.env_speed": {"bad env id": (["--env", "agile/NoSuchEnv-v2"], "agile/MedMCQA-v2")},
    "benchmarks.ppo_speed": {"missing folder": (["--model", "./no/such/model"], "./no/such/model")},
}
CASES = [(module, case) for module, cases in BAD_INPUT.items() for case in cases]
OUTPUT_FLAG = {"benchmarks.run": "--output-dir", "benchmarks.fidelity": "--output-dir",
               "benchmarks.env_speed": "--output", "benchmarks.ppo_speed": "--output"}


@pytest.mark.parametrize("module, case", CASES, ids=[f"{m}: {c}" for m, c in CASES])
def test_bad_input_is_one_line_naming_the_valid_values_and_exit_code_2(module, case, tmp_path, capsys, monkeypatch):
    if module == "benchmarks.ppo_speed":  # imports torch at the top
        pytest.importorskip("torch")
    argv, named = BAD_INPUT[module][case]
    monkeypatch.chdir(tmp_path)  # a command that did start would write here
    main = importlib.import_module(module).main
    code = main([*argv, OUTPUT_FLAG[module], str(tmp_path / "out")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2, (module, case, lines)
    assert len(lines) == 1 and lines[0].startswith("error: "), (module, case, lines)
    assert named in lines[0], (module, case, lines[0])
    assert not any(tmp_path.iterdir()), f"{module} wrote {list(tmp_path.iterdir())} before failing"
