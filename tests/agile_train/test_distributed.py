"""Data-parallel training through accelerate's launcher: two CPU processes (gloo) against one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.agile_train.conftest import TOY_ENV

ACCELERATE = Path(sys.executable).parent / "accelerate"
pytestmark = pytest.mark.skipif(not ACCELERATE.exists(), reason="the accelerate launcher is not installed")


def launch(processes: int, *args: str, timeout: int = 600, launcher: tuple[str, ...] = ("--multi_gpu",)
           ) -> subprocess.CompletedProcess:
    # accelerate's --cpu flag starts a single process; --multi_gpu uses its torchrun launcher, which falls back
    # to gloo on a machine without GPUs (our --device cpu asks for that explicitly).
    command = [str(ACCELERATE), "launch", *launcher, "--num_processes", str(processes), "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def resume_on_one_process(run: Path, iterations: int) -> list[dict]:
    """`ppo --resume` as a plain single process; returns every metrics line of the run."""
    result = subprocess.run([sys.executable, "-m", "agile_train.ppo", "--output-dir", str(run), "--resume",
                             "--iterations", str(iterations), "--device", "cpu"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_take_the_single_process_step_on_the_same_global_batch(tmp_path):
    single, double = tmp_path / "single", tmp_path / "double"
    single.mkdir(), double.mkdir()
    subprocess.run([sys.executable, "-m", "tests.agile_train.ddp_probe", str(single)], check=True, capture_output=True,
                   cwd=Path(__file__).resolve().parents[2])
    launch(2, "-m", "tests.agile_train.ddp_probe", str(double))
    alone = torch.load(single / "rank0.pt")
    rank0, rank1 = torch.load(double / "rank0.pt"), torch.load(double / "rank1.pt")
    assert rank0["world_size"] == 2 and alone["world_size"] == 1
    for name in rank0["weights"]:
        assert torch.equal(rank0["weights"][name], rank1["weights"][name]), name
    assert rank0["moved"] > 1e-3  # the step changed the weights...
    for name in alone["weights"]:  # ...exactly as one process did on the whole batch
        torch.testing.assert_close(rank0["weights"][name], alone["weights"][name], rtol=1e-5, atol=1e-5)
    assert rank0["loss"] == pytest.approx(alone["loss"], rel=1e-5)


def test_fsdp_step_equals_one_process_with_half_the_weights_on_each_rank(tmp_path):
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    single.mkdir(), sharded.mkdir()
    subprocess.run([sys.executable, "-m", "tests.agile_train.ddp_probe", str(single)], check=True, capture_output=True,
                   cwd=Path(__file__).resolve().parents[2])
    # Rank 0 gets two thirds of the batch: rank 1 runs one micro-batch with no data to stay in step.
    launch(2, "-m", "tests.agile_train.ddp_probe", str(sharded), "--fsdp")
    alone = torch.load(single / "rank0.pt")
    rank0, rank1 = torch.load(sharded / "rank0.pt"), torch.load(sharded / "rank1.pt")
    assert alone["local_share"] == 1.0
    assert 0.4 < rank0["local_share"] < 0.6 and 0.4 < rank1["local_share"] < 0.6
    assert rank0["moved"] > 1e-3 and set(rank0["weights"]) == set(alone["weights"])
    for name in alone["weights"]:
        torch.testing.assert_close(rank0["weights"][name], alone["weights"][name], rtol=1e-5, atol=1e-5)
    assert rank0["loss"] == pytest.approx(alone["loss"], rel=1e-5) and rank1["loss"] == rank0["loss"]


def test_fsdp_ppo_checkpoint_loads_unsharded_and_resumes_on_one_process(tmp_path):
    run = tmp_path / "run"
    # LoRA, sharded because the shipped accelerate config says distributed_type: FSDP.
    launch(2, "-m", "agile_train.ppo", "--env", TOY_ENV, "--env-kwargs", "{}", "--output-dir", str(run),
           "--iterations", "2", "--num-envs", "4", "--steps-per-env", "2", "--max-new-tokens", "2",
           "--tiny-vocab-size", "64", "--tiny-general-words", "0", "--tiny-hidden-size", "64",
           "--minibatch-size", "8", "--micro-batch-size", "2",
           "--checkpoint-every", "1", "--device", "cpu", "--lora-r", "8",
           launcher=("--config_file", "configs/accelerate/fsdp.yaml"))
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines] == [1, 2]
    checkpoint = run / "checkpoints" / "iteration-000002"
    optimizer_state = torch.load(checkpoint / "optimizer.pt", weights_only=False)
    assert all(isinstance(key, str) for key in optimizer_state["state"])  # full state, by parameter name
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    config = json.loads((run / "config.json").read_text())
    assert config["ppo"]["fsdp"] is False  # sharding came from the accelerate config, not the command line
    adapter = load_file(str(checkpoint / "policy" / "adapter_model.safetensors"))
    model_path = json.loads((checkpoint / "trainer_state.json").read_text())["model_path"]
    base = AutoModelForCausalLM.from_pretrained(model_path)
    model = PeftModel.from_pretrained(base, checkpoint / "policy")
    for name, tensor in adapter.items():  # the whole adapter, not one rank's shard
        key = name.replace(".weight", ".default.weight")
        assert model.state_dict()[key].shape == tensor.shape, name
    lines = resume_on_one_process(run, iterations=3)
    assert [line["iteration"] for line in lines] == [1, 2, 3]
    assert lines[-1]["memory/params_held_m"] > 1.5 * lines[0]["memory/params_held_m"]  # unsharded now
    steps = [next(iter(torch.load(run / "checkpoints" / f"iteration-00000{i}" / "optimizer.pt", weights_only=False)
                       ["state"].values()))["step"] for i in (2, 3)]
    assert float(steps[1]) == 1.5 * float(steps[0])  # Adam went on from the sharded run's state


def test_fsdp_needs_several_processes(monkeypatch):
    from agile_train.distributed import Distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ValueError, match="accelerate launch --num_processes N"):
        Distributed.from_environment("cpu", fsdp=True)


def test_ppo_runs_on_two_processes_and_resumes_on_one(tmp_path):
    run = tmp_path / "run"
    launch(2, "-m", "agile_train.ppo", "--env", TOY_ENV, "--env-kwargs", "{}", "--output-dir", str(run),
           "--iterations", "2", "--num-envs", "4", "--steps-per-env", "2", "--max-new-tokens", "1",
           "--tiny-vocab-size", "64", "--tiny-general-words", "0", "--tiny-hidden-size", "64",
           "--lora-r", "0", "--minibatch-size", "8",
           "--micro-batch-size", "8", "--checkpoint-every", "1", "--device", "cpu")
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines] == [1, 2]  # written once, by the main process
    state = json.loads((run / "checkpoints" / "iteration-000002" / "trainer_state.json").read_text())
    assert state["processes"] == 2
    import pickle

    envs = pickle.loads((run / "checkpoints" / "iteration-000002" / "envs.pkl").read_bytes())
    assert len(envs["envs"]) == 4  # every rank's env copies, in global order
    lines = resume_on_one_process(run, iterations=3)
    assert [line["iteration"] for line in lines] == [1, 2, 3]


def test_env_copies_must_split_evenly():
    from agile_train.distributed import Distributed

    assert list(Distributed(rank=1, world_size=2).shard(8)) == [4, 5, 6, 7]
    with pytest.raises(ValueError, match="does not split evenly over 3 processes"):
        Distributed(rank=0, world_size=3).shard(8)


@pytest.mark.parametrize("sharding", [[], ["--fsdp"]], ids=["data-parallel", "fsdp"])
def test_sft_on_two_processes_matches_one(tmp_path, sharding):
    args = ["--env-kwargs", '{"split": "train", "category": "desk_lamps", "max_questions": 10}', "--sessions", "1",
            "--epochs", "2", "--batch-size", "6", "--lora-r", "0", "--tiny-hidden-size", "64",
            "--tiny-vocab-size", "300", "--learning-rate", "1e-3"]
    subprocess.run([sys.executable, "-m", "agile_train.sft", *args, "--output-dir", str(tmp_path / "one")],
                   check=True, capture_output=True, cwd=Path(__file__).resolve().parents[2])
    launch(2, "-m", "agile_train.sft", *args, *sharding, "--output-dir", str(tmp_path / "two"))
    one, two = ([json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
                for name in ("one", "two"))
    assert len(two) == 2 and two[1]["loss/sft_avg"] < two[0]["loss/sft_avg"]
    for a, b in zip(one, two):
        assert b["loss/sft_avg"] == pytest.approx(a["loss/sft_avg"], rel=1e-5) and a["tokens"] == b["tokens"]
    from safetensors.torch import load_file

    weights_one, weights_two = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("one", "two"))
    for name in weights_one:
        torch.testing.assert_close(weights_two[name], weights_one[name], rtol=1e-3, atol=1e-4)
