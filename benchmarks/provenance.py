"""What a benchmark session is computed from, as hashes, and the data facts its report prints.

A saved session is reused only when its `fingerprint` equals the one computed now. The fingerprint has:
- `agent`: what the agent is. The source files of the agent class and its base classes; for `hf:` agents also
  the weights of the base model and every adapter (sha256 of the files of each local folder, the commit of a
  hub snapshot); for `openai:` agents the model name and endpoint (remote weights cannot be checked, so a
  served model replaced under the same name is not noticed).
- `env_code`: the sources of the `agile_gym` package, since grading and memory may change under the same
  env id while it is being developed (the env id, its version and its keyword arguments are in the spec).
- `data`: sha256 of the data files the session reads (its category's files, MedMCQA's questions and
  `memory_init`), the built-in data included.

Hashing is by file content; a file's hash is remembered per (path, size, mtime) for the life of the process.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import inspect
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import agile_gym
from benchmarks.checks import check_model

_CATEGORY_FILES = ("qa.jsonl", "schema.json", "metadata.json")


def digest(value: Any) -> str:
    """16 hex digits of the sha256 of `value` as sorted-key JSON (non-JSON values by `str`)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=4096)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """sha256 hex digest of the file's bytes. FileNotFoundError for a missing file."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _file_sha256(str(resolved), stat.st_size, stat.st_mtime_ns)


def files_digest(paths: Iterable[str | os.PathLike]) -> str:
    """One digest over several files: their names and contents, in the order given."""
    return digest([[Path(path).name, file_digest(path)] for path in paths])


def folder_digest(folder: str | os.PathLike) -> str:
    """Digest of every regular file directly in `folder` (weights, config, tokenizer), by name."""
    return files_digest(sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")))


def code_digest(factory: Any) -> str:
    """Digest of the source files of the modules that define `factory` (a class, or a function making the agent)
    and each of its base classes, so a change to a helper in the same module counts too; classes without a source
    file (builtins) are left out."""
    files = []
    for klass in inspect.getmro(factory) if inspect.isclass(factory) else (factory,):
        module = sys.modules.get(klass.__module__)
        source = getattr(module, "__file__", None)
        if source and source.endswith(".py") and source not in files:
            files.append(source)
    return files_digest(files)


@functools.lru_cache(maxsize=1)
def env_code_digest() -> str:
    """Digest of every .py file of the installed `agile_gym` package (the envs, grading, memory, tools)."""
    root = Path(agile_gym.__file__).parent
    return digest([[str(path.relative_to(root)), file_digest(path)] for path in sorted(root.rglob("*.py"))])


# ---------------------------------------------------------------------------------------------------- agents


def agent_fingerprint(spec: str, options: Any) -> dict[str, Any]:
    """What agent `spec` (an `--agent` value) is, without loading a model: `{"code": ...}` plus, for model
    agents, the weights (see the module docstring). `options` is the run's `AgentOptions`. Raises ValueError
    for a spec that names nothing usable (unknown scripted name, a user class that does not import, a model
    folder that does not exist); a hub model not downloaded yet has `"commit": None` (known after loading)."""
    from agile_gym.agents import AGENTS

    if spec in AGENTS:
        return {"code": code_digest(AGENTS[spec])}
    if spec.startswith("hf:"):
        return _hf_fingerprint(spec, options)
    if spec.startswith("openai:"):
        from benchmarks.openai_agent import OpenAIChatAgent

        return {"code": code_digest(OpenAIChatAgent), "model": spec.removeprefix("openai:"),
                "base_url": options.base_url}
    if ":" in spec:
        module_name, _, class_name = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"agent {spec!r}: cannot import {class_name} from {module_name} ({error})") from None
        return {"code": code_digest(cls)}
    raise ValueError(f"unknown agent {spec!r}: use one of {', '.join(AGENTS)}, hf:<model>, openai:<model> or "
                     "<module>:<Class>")


def _hf_fingerprint(spec: str, options: Any) -> dict[str, Any]:
    check_model(spec.removeprefix("hf:"), flag="--agent hf:")  # a missing folder fails before torch is imported
    try:
        from agile_train.config import ModelConfig
        from agile_train.env_factory import env_text
        from agile_train.models import TINY_MODEL, plan_model, resolve_base
        from agile_train.policy_agent import PolicyAgent
    except ImportError as error:
        raise ValueError(f"{spec} needs the training extra: pip install -e '.[train]' ({error})") from None
    name = spec.removeprefix("hf:")
    try:
        plan = plan_model(name)
        config = ModelConfig(model=name)
        base = plan.base
        if base == TINY_MODEL:  # built (once, cached) from the env's text: hash what was built
            base = resolve_base(config, base, lambda: env_text(options.env, options.env_kwargs or {}, options.seed),
                                options.seed)
        elif Path(base).expanduser().exists() or base.startswith((".", "/", "~")) or base.count("/") > 1:
            base = resolve_base(config, base, list, options.seed)  # FileNotFoundError for a missing folder
    except FileNotFoundError as error:
        raise ValueError(f"agent {spec!r}: {error}") from None
    fingerprint: dict[str, Any] = {"code": code_digest(PolicyAgent), "base": _weights(base)}
    for role, folder in (("merged_adapter", plan.merge), ("adapter", plan.adapter)):
        if folder:
            fingerprint[role] = _weights(folder)
    return fingerprint


def _weights(name_or_folder: str) -> dict[str, Any]:
    """A local folder's file digest, or a hub model's downloaded snapshot commit (None when not downloaded)."""
    folder = Path(name_or_folder).expanduser()
    if folder.is_dir():
        return {"folder": str(folder.resolve()), "sha256": folder_digest(folder)}
    from agile_gym.data.paths import cache_dir
    from agile_train.named_models import NAMED_MODELS

    if name_or_folder in NAMED_MODELS:  # converted on first load: known once converted
        converted = cache_dir() / "models" / name_or_folder
        known = (converted / "config.json").exists()
        return {"named": name_or_folder, "sha256": folder_digest(converted) if known else None}
    try:
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(name_or_folder, local_files_only=True)
    except Exception:  # noqa: BLE001 (not downloaded, no huggingface_hub: the commit is known after loading)
        return {"hub": name_or_folder, "commit": None}
    return {"hub": name_or_folder, "commit": Path(snapshot).name}


def verified(fingerprint: dict[str, Any]) -> bool:
    """False when some weights could not be identified yet (a hub model not downloaded): such a fingerprint
    never matches a saved session."""
    parts = [value for value in fingerprint.values() if isinstance(value, dict)]
    return not any(part.get("commit", "") is None or part.get("sha256", "") is None for part in parts)


# ------------------------------------------------------------------------------------------------------ data


@dataclasses.dataclass
class DataFacts:
    """What a run's env serves, for the report and the session keys.

    `folder`: the data folder (or file list, or hub dataset); `synthetic`: True for the built-in generated
    data; `split`: the split read (None when the data has none); `memory_preloaded`: a sentence (e.g. "no" or
    "1272 records from a.jsonl"); `categories`: name -> {"questions": int, "sha256": digest of its data};
    an env without categories has one entry, "all"."""

    folder: str
    synthetic: bool
    split: str | None
    memory_preloaded: str
    categories: dict[str, dict[str, Any]]

    def data_digest(self, category: str) -> str:
        """The data digest of one session: its category's, or every category's for "all" / a list."""
        if category in self.categories:
            return self.categories[category]["sha256"]
        return digest({name: facts["sha256"] for name, facts in self.categories.items()})


def data_facts(env: Any, kwargs: dict[str, Any]) -> DataFacts:
    """`DataFacts` of a constructed env (`env.unwrapped` is read) made with `kwargs`."""
    task = env.unwrapped
    categories = getattr(task, "categories", None)
    if categories:  # ProductQA: one folder per category
        from agile_gym.data.builtin import builtin_productqa_root

        first = next(iter(categories.values()))
        root = Path(first.source).parent.parent
        synthetic = root.resolve() == builtin_productqa_root().resolve()
        facts = {name: {"questions": len(category.questions),
                        "sha256": files_digest(Path(category.source) / f for f in _CATEGORY_FILES)}
                 for name, category in categories.items()}
        return DataFacts("built-in ProductQA (synthetic)" if synthetic else str(root.resolve()), synthetic,
                         first.split, "no (memory starts empty in every session)", facts)
    questions = getattr(task, "questions", ())
    memory_files = _paths(kwargs.get("memory_init"))
    memory_digest = files_digest(memory_files) if memory_files else None
    content = digest([dataclasses.asdict(q) if dataclasses.is_dataclass(q) else repr(q) for q in questions])
    if kwargs.get("data_files"):
        folder, synthetic, split = ", ".join(str(Path(p).resolve()) for p in _paths(kwargs["data_files"])), False, None
    elif kwargs.get("hf_dataset"):
        folder, synthetic, split = str(kwargs["hf_dataset"]), False, kwargs.get("split", "validation")
    else:
        folder, synthetic, split = f"built-in {type(task).__name__.removesuffix('Env')} set (synthetic)", True, None
    preloaded = (f"yes: {', '.join(str(p) for p in memory_files)}" if memory_files
                 else "no (memory starts empty)")
    return DataFacts(folder, synthetic, split, preloaded,
                     {"all": {"questions": len(questions), "sha256": digest([content, memory_digest])}})


def _paths(value: Any) -> list[Path]:
    if not value:
        return []
    return [Path(value)] if isinstance(value, (str, os.PathLike)) else [Path(v) for v in value]
