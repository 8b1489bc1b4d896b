"""Gymnasium text environments of the AGILE agent framework (Feng et al., NeurIPS 2024).

`import agile_gym` registers every `agile/...` id; it imports no deep-learning framework.
"""

from __future__ import annotations

import gymnasium

__version__ = "0.1.0"

# id -> (entry point, default kwargs). One table, registered in a loop.
ENVIRONMENTS: dict[str, tuple[str, dict]] = {
    "agile/ProductQA-v0": ("agile_gym.envs.productqa:ProductQAEnv", {}),
    "agile/MedMCQA-v0": ("agile_gym.envs.medmcqa:MedMCQAEnv", {}),
}

for _env_id, (_entry_point, _kwargs) in ENVIRONMENTS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(id=_env_id, entry_point=_entry_point, kwargs=_kwargs, disable_env_checker=False)

__all__ = ["ENVIRONMENTS", "__version__"]
