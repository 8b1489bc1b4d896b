from agile_gym.progress import progress_bar


def test_progress_bar_names_the_stage_counts_from_initial_and_can_be_silent(capsys):
    bar = progress_bar("ppo", 10, initial=4, iterable=range(5, 7))
    assert list(bar) == [5, 6] and bar.n == 6
    bar.close()
    assert "ppo:  60%" in capsys.readouterr().err
    quiet = progress_bar("sft", total=0, unit="step", enabled=False)
    quiet.total += 3
    quiet.update(1)
    quiet.set_postfix(loss="0.1")
    quiet.close()
    assert list(progress_bar("x", enabled=False, iterable=[1, 2])) == [1, 2]
    assert capsys.readouterr().err == ""
