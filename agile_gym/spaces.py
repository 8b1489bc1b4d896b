"""A text space for observations and actions that accepts any unicode string."""

from __future__ import annotations

import string
from typing import Any, Sequence

from gymnasium.spaces import Text

# Characters used when sampling; membership does not depend on them.
_SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n\u00e9\u00b0\u4e2d"


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
        return isinstance(x, str) and len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if mask is None and probability is None and self.examples and self.np_random.random() < 0.5:
            return self.examples[int(self.np_random.integers(len(self.examples)))]
        if mask is None and probability is None:
            mask = (int(self.np_random.integers(0, min(self.max_length, 64) + 1)), None)
        return super().sample(mask=mask, probability=probability)

    def __repr__(self) -> str:
        return f"FreeText(max_length={self.max_length})"
