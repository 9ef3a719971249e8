"""Policy regexes, compiled by RE2: a search takes time linear in the value, whatever the pattern.

Python's ``re`` backtracks: ``(a+)+$`` on 26 characters kept the event loop busy for 5 s (each
more character doubles it), and a policy is evaluated on every task of every cycle. RE2 (the
``google-re2`` binding) runs automata instead, so a search costs at most the value's length times
the pattern's size, and a compiled pattern's memory is bounded by :data:`MAX_MEMORY` (RE2's
``max_mem``: the program takes up to two thirds of it, the lazily built DFA the rest; a DFA that
runs out falls back to a slower automaton, still linear). A pattern is at most
:data:`MAX_PATTERN` characters, and the regexes of one configuration compile to at most
:data:`MAX_TOTAL` instructions together (:class:`Patterns`), so loading stays quick and small.

What RE2 cannot run is refused at load, with RE2's own reason and why: backreferences (``\\1``,
``(?P=name)``), lookahead and lookbehind, atomic groups, possessive quantifiers, and a few
spellings of Python's (``\\Z``, the ``(?x)`` and ``(?a)`` flags). Everything else keeps its
meaning: ``regex`` is a search; inline flags ``(?i)``, ``(?s)``, ``(?m)`` work; ``.`` stops at a
newline; ``^``/``$`` are the value's ends unless ``(?m)``.

Not guaranteed, the differences with Python's ``re`` on patterns both accept: ``\\d``, ``\\w``,
``\\s`` and ``\\b`` are ASCII in RE2 (Unicode in Python: write ``\\pN`` or ``\\pL`` for those);
``$`` without ``(?m)`` matches only at the very end (Python also before a final newline); inside
brackets RE2 reads ``[[:alpha:]]`` as a POSIX class. A lone surrogate in a value (JSON allows
``"\\ud800"``) is searched as the three bytes Python's ``surrogatepass`` gives it.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import re2

MAX_PATTERN = 1000
"""Characters a ``regex`` or ``glob`` value may have."""
MAX_MEMORY = 1 << 20
"""RE2's ``max_mem`` for one policy regex, in bytes (1 MiB)."""
MAX_TOTAL = 1_000_000
"""RE2 instructions (8 bytes each) all the policy regexes of a configuration may compile to: one
regex's bound times the number of regexes a 1 MiB file holds would be gigabytes, and minutes of
compiling on a reload. Ordinary patterns take 5 to 1,000 instructions; ``\\pL{1,50}`` 60,000."""
_LIMITS = (
    "policy regexes run on RE2, in time linear in the value, which has no backreferences, "
    "lookaround, atomic groups or possessive quantifiers"
)


class PatternError(ValueError):
    """A pattern that cannot be a policy's: ``reason`` says why, in the configuration's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Regex:
    """A compiled policy regex; two are equal when their patterns are."""

    pattern: str
    program: Any = field(compare=False, repr=False)
    """The ``re2`` object that searches."""
    size: int = field(compare=False)
    """Instructions of its compiled program."""

    def search(self, text: str) -> bool:
        """Whether the pattern occurs in ``text``. Never raises: the value goes to RE2 as UTF-8
        bytes, a lone surrogate included (``surrogatepass``)."""
        return self.program.search(text.encode("utf-8", "surrogatepass")) is not None


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_MEMORY
    options.never_capture = True  # a filter asks "is it there", never "what": the DFA answers
    options.log_errors = False  # RE2 would write the pattern to stderr
    return options


_OPTIONS = _options()


def check_length(pattern: str, op: str) -> None:
    """Refuse a ``regex``/``glob`` value longer than :data:`MAX_PATTERN` characters."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(
            f"a {op} pattern is at most {MAX_PATTERN} characters, this one has {len(pattern)}"
        )


def compile_regex(pattern: str) -> Regex:
    """``pattern`` compiled by RE2, or a :class:`PatternError` saying why it cannot be."""
    check_length(pattern, "regex")
    try:
        program = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise PatternError(_why(pattern, exc)) from exc
    # ProgramSize() is RE2's own count; the binding keeps its RE2 object in ``_regexp``.
    return Regex(pattern, program, program._regexp.ProgramSize())


class Patterns:
    """Compiles the regexes of one configuration within :data:`MAX_TOTAL` instructions in all:
    ``taskwatch.policy.rules.compile_rules`` makes one and hands it to every filter."""

    def __init__(self, total: int = MAX_TOTAL) -> None:
        self.total = total
        self.used = 0

    def regex(self, pattern: str) -> Regex:
        """``pattern`` compiled (:func:`compile_regex`) and counted against the total."""
        regex = compile_regex(pattern)
        if self.used + regex.size > self.total:
            raise PatternError(
                f"the policy regexes together would compile to more than {self.total} RE2 "
                f"instructions (about {self.total * 8 // 1_000_000} MB), this one brings them to "
                f"{self.used + regex.size}: simplify the largest (counted repeats of large "
                "classes such as \\pL{1,50} are the usual cause)"
            )
        self.used += regex.size
        return regex


def _why(pattern: str, exc: Exception) -> str:
    said = exc.args[0] if exc.args else "invalid"
    engine = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    engine = engine if len(engine) <= 80 else engine[:77] + "..."
    if "pattern too large" in engine:
        return (
            f"the regex compiles to more than RE2's memory bound ({MAX_MEMORY >> 20} MiB): "
            "simplify it (counted repeats of large classes such as \\pL{1,100} are the usual "
            "cause)"
        )
    if not _python_accepts(pattern):
        return f"bad regex: {engine}"
    hint = "; write \\z (or $) for the end of the value" if engine.endswith("\\Z") else ""
    return f"RE2 cannot run this regex ({engine}): {_LIMITS}{hint}"


def _python_accepts(pattern: str) -> bool:
    """Whether Python's ``re`` compiles ``pattern``: then the pattern is not wrong, only beyond
    RE2. Compiling never runs it, so this is as cheap as the pattern is short."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FutureWarning on "[[", "--" and the like
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError, ValueError):
            return False
    return True
