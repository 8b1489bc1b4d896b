"""Read JSON and JSON Lines files as UTF-8, turning every decoding problem into a `DataError` that names the
file and the line."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agile_gym.data.types import DataError, DataQualityWarning
from agile_gym.spaces import encodable_text


def _not_utf8(path: Path, data: bytes, err: UnicodeDecodeError, line: int | None = None) -> DataError:
    at = f"offset {err.start} of the line" if line is not None else f"offset {err.start}"
    line = line if line is not None else data.count(b"\n", 0, err.start) + 1
    return DataError(f"{path}:{line}: not UTF-8 text (byte {data[err.start]:#04x} at {at}); save the file as UTF-8")


def _encodable(value: Any, where: str, key: str) -> Any:
    """`value` (a string, or a list holding strings) with lone surrogates, text UTF-8 cannot carry that valid
    UTF-8 JSON can only spell as an escape like "\\ud800", replaced by U+FFFD, with a DataQualityWarning."""
    if isinstance(value, list):
        return [_encodable(item, where, key) for item in value]
    if isinstance(value, str) and (fixed := encodable_text(value)) is not value:
        warnings.warn(DataQualityWarning(f"{where}: {key!r} holds a lone surrogate escape (text UTF-8 cannot carry), "
                                         f"replaced with U+FFFD: {fixed[:80]!r}"), stacklevel=2)
        return fixed
    return value


def _unique_keys(where: str, surrogates: bool = False) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A json `object_pairs_hook` refusing a key given twice in one object (json keeps the last, silently);
    with `surrogates` (the text holds a \\uD8xx-\\uDFxx escape), it also replaces lone surrogates."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if surrogates:
            pairs = [(_encodable(key, where, key), _encodable(value, where, key)) for key, value in pairs]
        result = dict(pairs)
        if len(result) < len(pairs):
            seen: set[str] = set()
            twice = next(key for key, _ in pairs if key in seen or seen.add(key))
            raise DataError(f"{where}: key {twice!r} appears twice in one object (only the last would be kept)")
        return result

    return hook


def _may_hold_surrogates(text: str) -> bool:
    return "\\ud" in text.lower()


def read_json(path: str | Path) -> Any:
    """The JSON value in `path`; DataError for a missing file, non-UTF-8 bytes, invalid JSON (with the line) or a
    key given twice in one object."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing file {path}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _not_utf8(path, data, err) from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys(str(path), _may_hold_surrogates(text)))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) for every non-blank line of `path`, 1-based; DataError as `read_json` per line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing file {path}")
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise _not_utf8(path, raw, err, number) from None
            if not line.strip():
                continue
            try:
                yield number, json.loads(line, object_pairs_hook=_unique_keys(f"{path}:{number}",
                                                                              _may_hold_surrogates(line)))
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{number}: invalid JSON ({err.msg})") from None
