import json

import pytest

pytest.importorskip("transformers")

from benchmarks import gpu_check  # noqa: E402


def test_the_cpu_fallback_measures_every_section_at_toy_size(tmp_path, capsys):
    output = tmp_path / "gpu_check.json"
    code = gpu_check.main(["--device", "cpu", "--tiny", "--envs", "2", "--prompt-tokens", "8", "--new-tokens", "3",
                           "--repeats", "1", "--output", str(output)])
    assert code == 0
    report = json.loads(output.read_text())
    (rollout,) = report["rollout"]
    assert set(rollout["tokens_per_s"]) == {"agile_train sampler, static cache", "agile_train sampler, dynamic cache",
                                            "agile_train sampler, static cache, no shared prefix",
                                            "generate, batched", "generate, static cache"}
    assert all(rate > 0 for rate in rollout["tokens_per_s"].values())
    # fp32 on a CPU: every variant writes generate's greedy tokens.
    assert all(rollout["greedy_tokens_equal_generate"].values())
    assert rollout["ratio_to_batched_generate"]["generate, batched"] == 1.0
    iteration = report["ppo_iteration"]
    assert iteration["iteration_s"] == pytest.approx(iteration["rollout_s"] + iteration["scoring_s"]
                                                     + iteration["update_s"])
    assert iteration["update_tokens_per_s"] == pytest.approx(2 * (8 + 3) / iteration["update_s"])
    assert report["peak_bf16_tflops"] is None and "update_mfu" not in iteration  # no MFU without a known peak
    assert report["skipped"] == []
    printed = capsys.readouterr().out
    assert "| generate, static cache | 2 |" in printed and "update MFU" in printed


def test_the_model_has_smollm2_135m_parameter_count():
    import torch

    model = gpu_check.build_model(gpu_check.SMOLLM2_135M, torch.device("meta"), torch.bfloat16)
    # HuggingFaceTB/SmolLM2-135M: 134,515,008 parameters (embedding tied to the head).
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    layers, head = gpu_check.matmul_params(model)
    assert (layers, head) == (30 * 3_540_096, 49152 * 576)


def test_peak_flops_by_gpu_name(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "NVIDIA H100 PCIe")
    assert gpu_check.peak_tflops(torch.device("cuda")) == ("NVIDIA H100 PCIe", 756.0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "NVIDIA H200")
    assert gpu_check.peak_tflops(torch.device("cuda"))[1] == 989.0
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "Tesla V100")
    assert gpu_check.peak_tflops(torch.device("cuda"))[1] is None


def test_cuda_without_a_gpu_is_one_line_and_exit_2(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--device", "cuda"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
