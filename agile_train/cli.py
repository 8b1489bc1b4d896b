"""What every `python -m agile_train.*` command shares: its parser, and bad input as one line with exit code 2.

A wrong flag or choice (argparse) and a wrong value found before any work (an env id, JSON, a folder, a
category: ValueError, TypeError, OSError) both end the command with one line on stderr naming what is wrong
and, where there is a list, the valid values; no traceback.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

# What a command reports as bad input (FileNotFoundError and the data's DataError are among these).
BAD_INPUT = (ValueError, TypeError, OSError)


def one_line(error: BaseException | str) -> str:
    """The message on one line (newlines and runs of spaces become single spaces)."""
    return " ".join(str(error).split())


def fail(error: BaseException | str) -> int:
    """Print `error: <message>` on one line to stderr; returns exit code 2."""
    print(f"error: {one_line(error)}", file=sys.stderr)
    return 2


def make_parser(dataclass_types: tuple[type, ...], description: str, epilog: str | None = None) -> Any:
    """An `HfArgumentParser` over `dataclass_types` (flags take `-` or `_`: --num-envs and --num_envs) whose
    usage errors are one line ('<prog>: error: ...', exit code 2) instead of the whole usage text."""
    from transformers import HfArgumentParser

    class OneLineParser(HfArgumentParser):
        def error(self, message: str) -> NoReturn:
            self.exit(2, f"{self.prog}: error: {one_line(message)} (see --help)\n")

    return OneLineParser(dataclass_types, description=description, epilog=epilog)
