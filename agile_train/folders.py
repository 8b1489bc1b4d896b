"""Kept so that `from agile_train.folders import publish_folder` still works: the helper lives in
`agile_gym.files` (one home for atomic writes, importable without torch)."""

from agile_gym.files import publish_folder

__all__ = ["publish_folder"]
