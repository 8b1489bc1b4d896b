import pytest

from agile_gym.play import main


def test_play_prints_a_metrics_row_per_agent(capsys):
    main(["--env", "agile/ProductQA-v2", "--env-kwargs", '{"max_questions": 20}'])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "agent" not in line]
    assert [row.split("|")[1].strip() for row in rows] == ["always-advice", "expert", "never-advice", "oracle"]
    assert "| oracle | 20 | 1.000 | 0.000 | 1.000 |" in out
    assert "| always-advice | 20 | 1.000 | 1.000 | 0.700 |" in out
    assert "| expert | 20 | 1.000 |" in out


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for option in ("--env", "--env-kwargs", "--agent", "--seed"):
        assert option in out
