"""A text space for observations and actions that accepts any unicode string."""

from __future__ import annotations

import multiprocessing
import string
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.spaces import Text
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

# Characters used when sampling; membership does not depend on them.
_SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n\u00e9\u00b0\u4e2d"


def encodable_text(text: str) -> str:
    """`text` as UTF-8 can carry it: lone surrogates (which `str` allows and UTF-8 refuses, e.g. "\\ud800" from a
    fuzzer or a broken decoder) become U+FFFD, a high-low surrogate pair becomes the character it spells; any
    other text is returned unchanged (the same object)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


class FreeText(Text):
    """`gymnasium.spaces.Text` whose `contains` accepts every `str` up to `max_length` characters.

    Gymnasium's `Text` defaults to an alphanumeric charset that product titles and medical questions break.
    `sample()` mixes well-formed actions from `examples` (when given) with random text, so that
    `check_env` and fuzzers exercise both the valid and the invalid paths.
    """

    def __init__(self, max_length: int, examples: Sequence[str] = (), seed: Any = None) -> None:
        super().__init__(max_length, min_length=0, charset=_SAMPLE_CHARSET, seed=seed)
        self.examples = tuple(examples)

    def contains(self, x: Any) -> bool:
        """Whether `x` is a `str` of at most `max_length` characters (any characters)."""
        return isinstance(x, str) and len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """Without `mask` / `probability`: half the time one of `examples`, else random text of up to 64
        characters from a mixed charset; with them, `Text.sample`'s meaning."""
        if mask is None and probability is None and self.examples and self.np_random.random() < 0.5:
            return self.examples[int(self.np_random.integers(len(self.examples)))]
        if mask is None and probability is None:
            mask = (int(self.np_random.integers(0, min(self.max_length, 64) + 1)), None)
        return super().sample(mask=mask, probability=probability)

    def __repr__(self) -> str:
        return f"FreeText(max_length={self.max_length})"


# Gymnasium's AsyncVectorEnv passes observations through shared memory, reading it once when the vector env is
# built: that works for numpy views, but Text's reader returns strings, decoded from the still-empty memory (and
# from indices into the sampling charset), so every observation came back as 'aaaa...'. For FreeText the memory
# holds unicode code points with the length in the first slot of each sub-env's row, and the reader returns a
# live view that decodes on access; AsyncVectorEnv's default `copy=True` deep-copies it into a plain tuple.
# Code points go through "surrogatepass": every `str` is in the space, lone surrogates included, and a UTF-32
# slot holds any of them, so the async path returns exactly what the sync path does (a strict codec raised
# UnicodeEncodeError in the worker, which the main process saw as a confusing TypeError).
@create_shared_memory.register(FreeText)
def _create_free_text_memory(space: FreeText, n: int = 1, ctx: Any = multiprocessing):
    return ctx.Array(np.dtype(np.int32).char, n * (space.max_length + 1))


@write_to_shared_memory.register(FreeText)
def _write_free_text(space: FreeText, index: int, value: str, shared_memory) -> None:
    if not space.contains(value):
        raise ValueError(f"observation is not in {space}: {type(value).__name__} of length {len(value)}")
    row = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)[index * (space.max_length + 1):]
    codes = np.frombuffer(value.encode("utf-32-le", "surrogatepass"), dtype=np.int32)
    row[0] = len(codes)
    row[1:1 + len(codes)] = codes


class SharedTexts(Sequence):
    """The texts in a FreeText shared-memory block, decoded when read (a live view, like numpy's)."""

    def __init__(self, space: FreeText, shared_memory, n: int) -> None:
        self._rows = np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape(n, space.max_length + 1)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self[i] for i in range(len(self))[index])
        row = self._rows[index]
        return row[1:1 + int(row[0])].tobytes().decode("utf-32-le", "surrogatepass")

    def __deepcopy__(self, memo) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, (tuple, list, SharedTexts)) else other)

    def __repr__(self) -> str:
        return f"SharedTexts({tuple(self)!r})"


@read_from_shared_memory.register(FreeText)
def _read_free_text(space: FreeText, shared_memory, n: int = 1) -> SharedTexts:
    return SharedTexts(space, shared_memory, n)
