"""Gymnasium text environments of the AGILE agent framework (Feng et al., NeurIPS 2024).

`import agile_gym` registers every `agile/...` id; it imports no deep-learning framework.
"""

from __future__ import annotations

import gymnasium

__version__ = "0.1.0"

# id -> (entry point, default kwargs). One table, registered in a loop.
ENVIRONMENTS: dict[str, tuple[str, dict]] = {
    "agile/ProductQA-v2": ("agile_gym.envs.productqa:ProductQAEnv", {}),
    "agile/MedMCQA-v2": ("agile_gym.envs.medmcqa:MedMCQAEnv", {}),
}
# Deprecated id -> the id to use. They stay registered so old configs still load, but they make the current
# classes, so they behave as the id they point to (see AgileEnv's Version History); Gymnasium warns that they
# are out of date.
DEPRECATED_ENVIRONMENTS: dict[str, str] = {
    "agile/ProductQA-v0": "agile/ProductQA-v2",
    "agile/MedMCQA-v0": "agile/MedMCQA-v2",
    "agile/ProductQA-v1": "agile/ProductQA-v2",
    "agile/MedMCQA-v1": "agile/MedMCQA-v2",
}

for _env_id, (_entry_point, _kwargs) in [
    *ENVIRONMENTS.items(), *((old, ENVIRONMENTS[new]) for old, new in DEPRECATED_ENVIRONMENTS.items())
]:
    if _env_id not in gymnasium.registry:
        gymnasium.register(id=_env_id, entry_point=_entry_point, kwargs=_kwargs, disable_env_checker=False)

__all__ = ["DEPRECATED_ENVIRONMENTS", "ENVIRONMENTS", "__version__"]

