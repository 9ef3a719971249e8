"""Reading the configuration file: bytes in, YAML data and the line of every key out, within
budgets that bound the time and memory any file, however written, can cost to load.

The budgets, each refused with a :class:`~taskwatch.errors.ConfigError` naming the file:

- the file is at most :data:`MAX_FILE_BYTES` (1 MiB), refused before parsing (a 10 MB file took
  13 s and 1.5 GB to load, blocking the event loop on a reload); at most that much is ever read,
  so a device or a pipe given as the file is no exception;
- at most 100,000 values (aliases counted each time they are used) and 64 levels of nesting;
- every string value is at most :data:`MAX_STRING` characters and every key at most
  :data:`MAX_KEY`: these two are checked by :mod:`~taskwatch.settings.loading` as it expands
  ``${...}``, so they hold for :func:`~taskwatch.settings.parse_settings` too, and for values
  taken from the environment. Narrower bounds of particular values live with them (a policy regex
  is at most 1,000 characters: ``taskwatch.policy.patterns``).

Not guaranteed: parsing within the budget is not instant (PyYAML is pure Python: a 1 MiB file of
small flow mappings takes about 3 s); line numbers are those of the YAML nodes, so an error under
a ``<<`` merge key points at the enclosing key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias

import yaml

from taskwatch.errors import ConfigError

Loc: TypeAlias = tuple[str | int, ...]
MAX_FILE_BYTES = 1 << 20
"""Bytes a configuration file may have (1 MiB; the documented example has 15 KB)."""
MAX_STRING = 8192
"""Characters a string value may have, after ``${...}`` expansion: room for long signed URLs,
paths (``PATH_MAX`` is 4096) and session tokens."""
MAX_KEY = 256
"""Characters a key may have (every key of the file is a short name)."""
_MAX_NODES = 100_000
_MAX_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"


def dotted(path: Loc) -> str:
    """``("accounts", 0, "regions")`` → ``accounts[0].regions``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


class Budget:
    """Counts visited values, so aliases cannot make a walk exponential (or endless)."""

    def __init__(self, source: str) -> None:
        self.left = _MAX_NODES
        self.source = source

    def spend(self, path: Loc) -> None:
        self.left -= 1
        if self.left < 0 or len(path) > _MAX_DEPTH:
            raise ConfigError("too large or too deeply nested", file=self.source, key=None)


def _line_index(node: yaml.Node, source: str) -> dict[Loc, int]:
    """The 1-based line of every key and item; duplicate keys are errors."""
    lines: dict[Loc, int] = {}
    budget = Budget(source)

    def walk(node: yaml.Node, path: Loc) -> None:
        budget.spend(path)
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                    continue
                key, line = key_node.value, key_node.start_mark.line + 1
                if key in first:
                    raise ConfigError(
                        f"duplicate key, at lines {first[key]} and {line}",
                        file=source,
                        key=dotted((*path, key)),
                    )
                first[key] = lines[(*path, key)] = line
                walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    walk(node, ())
    return lines


def read_yaml(path: Path, source: str) -> tuple[object, dict[Loc, int]]:
    """The parsed document (``None`` when empty) and the 1-based line of every key and item."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(exc.strerror or type(exc).__name__, file=source) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            f"the file is larger than {MAX_FILE_BYTES >> 20} MiB ({MAX_FILE_BYTES} bytes): a "
            "configuration is far smaller; is it the right file?",
            file=source,
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=source) from None
    try:  # the reader rejects control characters as soon as the loader is built
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        reason = getattr(exc, "reason", None) or "a character YAML does not allow"
        raise ConfigError(f"not valid YAML: {reason}", file=source) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines = _line_index(node, source)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        # problem and context only: the snippet would quote the line, which may hold a secret.
        words = "; ".join(str(p) for p in (exc.context, exc.problem) if p)
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"not valid YAML: {words}{where}", file=source) from None
    except (yaml.YAMLError, RecursionError):
        raise ConfigError("not valid YAML", file=source) from None
    finally:
        loader.dispose()
