"""Numbers written in ASCII digits, the one way HotSync reads a number from text.

``str.isdigit()`` also accepts '²' (which ``int()`` refuses: a traceback) and full-width
digits (which ``int()`` silently reads), so no text from a file, a setting or the
environment is tested with it.
"""

import re
from typing import Optional

_DIGITS = re.compile(r"[0-9]+")


def is_ascii_number(text: str, max_digits: int = 10) -> bool:
    """Whether ``text`` is 1 to ``max_digits`` ASCII digits and nothing else."""
    return len(text) <= max_digits and _DIGITS.fullmatch(text) is not None


def ascii_number(text: str, max_digits: int = 10) -> Optional[int]:
    """``text`` as a number when it is 1 to ``max_digits`` ASCII digits, else None."""
    return int(text) if is_ascii_number(text, max_digits) else None
