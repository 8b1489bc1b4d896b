"""One PPO update on a fixed global batch, alone or as one rank of several (the distributed test runs it).

    python -m tests.agile_train.ddp_probe OUT                                  # one process, the whole batch
    accelerate launch --multi_gpu --num_processes 2 -m tests.agile_train.ddp_probe OUT   # each rank half of it
    accelerate launch ... -m tests.agile_train.ddp_probe OUT --fsdp            # sharded, ranks' shares uneven

Writes OUT/rank<r>.pt with the global loss and the (full) weights after the step.
"""

import sys
from pathlib import Path

import torch

from agile_train.buffer import RolloutBuffer, Sample
from agile_train.config import PPOConfig
from agile_train.distributed import Distributed
from agile_train.sharding import full_state, gathered, held_parameters, shard_policy
from agile_train.update import OptimizerStep, ppo_update
from tests.agile_train.conftest import toy_model

GLOBAL_BATCH = 12


def fixed_samples(vocab: int) -> list[Sample]:
    """Actions of different lengths (so token weighting matters) with made-up rollout statistics."""
    draw = torch.Generator().manual_seed(123)
    samples = []
    for i in range(GLOBAL_BATCH):
        prompt = torch.randint(3, vocab, (5 + i % 4,), generator=draw).tolist()
        response = torch.randint(3, vocab, (1 + i % 5,), generator=draw).tolist()
        n = len(response)
        samples.append(Sample(prompt, response, old_logprobs=-torch.rand(n, generator=draw) * 4,
                              ref_logprobs=-torch.rand(n, generator=draw) * 4,
                              old_values=torch.randn(n, generator=draw),
                              advantages=torch.randn(n, generator=draw), returns=torch.randn(n, generator=draw)))
    return samples


def main(out: str, fsdp: bool = False) -> None:
    dist = Distributed.from_environment("cpu", fsdp)
    config = PPOConfig(ppo_epochs=1, minibatch_size=2 * GLOBAL_BATCH, micro_batch_size=4, cliprange=0.2,
                       cliprange_value=0.2, vf_coef=0.1, entropy_coef=0.01, max_grad_norm=1.0)
    torch.manual_seed(0)
    if not dist.is_main:
        dist.barrier()
    tokenizer, policy = toy_model(lora_r=0)
    if dist.is_main:
        dist.barrier()
    dist.broadcast_parameters(policy)
    initial = {name: tensor.detach().clone() for name, tensor in policy.state_dict().items()}
    samples = fixed_samples(len(tokenizer))
    mine = [samples[i] for i in dist.shard(len(samples), "the batch")]
    if fsdp:  # rank 0 takes two thirds, so rank 1 must join a micro-batch it has no data for
        cut = 2 * GLOBAL_BATCH // 3
        mine = samples[:cut] if dist.is_main else samples[cut:]
        shard_policy(policy, dist)
        with torch.no_grad(), gathered(policy):  # as the trainer scores its rollout before each update
            policy(torch.tensor([[3, 4, 5]]), torch.ones(1, 3, dtype=torch.long), 1)
    local, full = held_parameters(policy), sum(p.numel() for p in policy.parameters())
    trainable = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.5)  # linear in the gradient: weights compare like gradients
    buffer = RolloutBuffer.from_samples(mine, tokenizer.pad_token_id, torch.device("cpu"), dist, whiten=True)
    metrics = ppo_update(policy, OptimizerStep(optimizer, config.max_grad_norm, dist), buffer, config,
                         torch.Generator().manual_seed(0))
    (metrics["loss/total"],) = dist.sum(metrics["loss/total"])  # each process returns its share
    if fsdp:
        weights = full_state(policy)[0]  # on the main process only
    else:
        weights = {name: tensor.detach().clone() for name, tensor in policy.state_dict().items()}
    moved = max((float((weights[name] - initial[name]).abs().max()) for name in weights), default=0.0)
    torch.save({"loss": metrics["loss/total"], "weights": weights, "world_size": dist.world_size, "moved": moved,
                "local_share": local / full, "metrics": metrics}, Path(out) / f"rank{dist.rank}.pt")
    dist.close()


if __name__ == "__main__":
    main(sys.argv[1], fsdp="--fsdp" in sys.argv[2:])
