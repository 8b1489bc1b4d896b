"""Every `python -m` entry point of agile_gym and agile_train: bad input ends it before any work with one line
on stderr that names the valid values, and exit code 2 (benchmarks.* are tested in tests/benchmarks)."""

import importlib

import pytest

pytest.importorskip("transformers")

ENTRY_POINTS = ["agile_gym.play", "agile_train.ppo", "agile_train.sft", "agile_train.evaluate", "agile_train.recipe"]

# (argv, what the one line must name)
BAD_INPUT = {
    "bad env id": (["--env", "agile/NoSuchEnv-v2"], "agile/ProductQA-v2"),
    "bad JSON": (["--env-kwargs", "{not json"], "JSON object"),
    "missing folder": (["--env-kwargs", '{"data_dir": "/no/such/folder"}'], "/no/such/folder"),
    "wrong category": (["--env-kwargs", '{"split": "train", "category": "legings"}'], "desk_lamps"),
    "wrong choice": (["--dtype", "float99"], "bfloat16"),
}


def run(module: str, argv: list[str], capsys) -> tuple[int, list[str]]:
    """(exit code, stderr lines) of `module.main(argv)`, run in this process."""
    main = importlib.import_module(module).main
    try:
        code = main(argv)
    except SystemExit as error:  # argparse's own errors exit
        code = error.code
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return code, lines


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_bad_input_is_one_line_naming_the_valid_values_and_exit_code_2(module, case, tmp_path, capsys,
                                                                       monkeypatch):
    argv, named = BAD_INPUT[case]
    if module == "agile_gym.play" and case == "wrong choice":
        argv, named = ["--agent", "orcale"], "oracle"
    monkeypatch.chdir(tmp_path)  # a command that did start would write its run folder here
    extra = ["--output-dir", str(tmp_path / "run")] if module in ("agile_train.ppo", "agile_train.sft",
                                                                   "agile_train.recipe") else []
    code, lines = run(module, argv + extra, capsys)
    assert code == 2, (module, case, lines)
    assert len(lines) == 1, (module, case, lines)
    assert named in lines[0], (module, case, lines[0])
    assert not any(tmp_path.iterdir()), f"{module} wrote {list(tmp_path.iterdir())} before failing"


def test_the_recipe_checks_its_test_kwargs_before_training(tmp_path, capsys):
    code, lines = run("agile_train.recipe", ["--test-kwargs", '{"category": "legings"}', "--output-dir",
                                             str(tmp_path / "run")], capsys)
    assert code == 2 and len(lines) == 1 and "kettles" in lines[0], lines
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("module, flag", [("agile_train.ppo", "num_envs"), ("agile_train.evaluate", "num_envs"),
                                          ("agile_train.sft", "batch_size"), ("agile_train.recipe", "sft_epochs")])
def test_flags_take_dashes_or_underscores_and_quiet(module, flag):
    from agile_train.cli import make_parser

    classes = {"agile_train.ppo": "PPOConfig", "agile_train.evaluate": "EvalConfig",
               "agile_train.sft": "SFTConfig", "agile_train.recipe": "RecipeConfig"}
    import agile_train.config as config

    parser = make_parser((config.EnvConfig, config.ModelConfig, getattr(config, classes[module])), "")
    for spelling in (flag, flag.replace("_", "-")):
        *_, parsed = parser.parse_args_into_dataclasses(args=[f"--{spelling}", "3", "--quiet"])
        assert getattr(parsed, flag) == 3 and parsed.quiet
