"""Reading the configuration file: YAML in, :class:`~taskwatch.settings.model.Settings` out.

:func:`load_settings` turns *any* problem into a :class:`~taskwatch.errors.ConfigError` whose
``str()`` reads ``file: key: reason``, e.g. ``taskwatch.yaml: accounts[0].regions[1]: 'guangzhou'
is not a region name (e.g. ap-guangzhou) (line 7)``; the CLI prints that line and exits 2. The
YAML is read with budgets (:mod:`~taskwatch.settings.reading`: the file's size, the count and
depth of values, aliases; here the length of every string and key, after ``${...}`` expansion
too) and a line index, so that an error names its line; pydantic's errors are rewritten here into
reasons that never quote a secret, with a "did you mean" suggestion for an unknown key. Every
error inside ``policies[i]`` starts ``rule 'NAME':`` once the policy's name is readable, as the
policy compiler's do.

**Every problem.** The error tells the first problem, with ``(and N more)``; its ``problems``
holds each of them as a ``ConfigError`` of its own (``taskwatch check-config --all`` lists them):
every value pydantic refused, or, before validation, every ``${...}`` that cannot be expanded and
every string or key too long (validation then does not run: what it would see is incomplete).
Duplicates (the same key and reason twice) are told once.

**Environment variables.** After YAML parsing, every string *value* (never a key) may use
``${NAME}`` (an error if ``NAME`` is unset) and ``${NAME:-default}`` (the default when ``NAME`` is
unset or empty; the default is taken literally, up to the first ``}``). ``$${`` stands for a
literal ``${``; a ``$`` not followed by ``{`` is left alone. Expansion yields strings, which
pydantic then reads as numbers, booleans or durations where a key wants one
(``budget: ${TASKWATCH_BUDGET:-0.5}``). An empty ``endpoint`` or ``client_suffix`` counts as
absent, so ``endpoint: ${TASKWATCH_ENDPOINT:-}`` is a switch.

Not guaranteed: values are checked for shape, not reachability (a credential file or endpoint may
still fail at run time, with a ``CredentialError`` or a ``TransportError``); relative paths are
relative to the working directory, not to the file; ``<<`` merge keys work, but errors under merged
keys point at the line of the enclosing key.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Collection, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from taskwatch.errors import ConfigError
from taskwatch.settings.model import Settings
from taskwatch.settings.reading import MAX_KEY, MAX_STRING, Budget, Loc, dotted, read_yaml
from taskwatch.settings.values import _POLICY_NAME, _Invalid

_VARIABLE = re.compile(r"\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})?")
_MORE_THAN = f"more than the {MAX_STRING}"


def _expand(
    data: object, environ: Mapping[str, str], source: str, lines: Mapping[Loc, int]
) -> object:
    """A copy of ``data`` with ``${...}`` expanded in string values; keys must be strings, at most
    ``MAX_KEY`` characters, and values at most ``MAX_STRING``, before and after expansion (which
    stops as soon as a value outgrows it: ``${A}`` written 2,000 times never becomes 2,000 A's)."""
    budget = Budget(source)

    def too_long(reason: str, path: Loc) -> ConfigError:
        where = _policy_of(data, path), _near_line(lines, path)
        return ConfigError(where[0] + reason + where[1], file=source, key=dotted(path) or None)

    def substitute(text: str, path: Loc) -> str:
        grown = 0

        def one(match: re.Match[str]) -> str:
            nonlocal grown
            found = reference(match, path)
            grown += len(found) - len(match.group(0))
            if grown > MAX_STRING:  # the result is longer than this, whatever follows
                raise too_long(f"expands to {_MORE_THAN} characters a value may have", path)
            return found

        expanded = _VARIABLE.sub(one, text)
        if len(expanded) > MAX_STRING:
            raise too_long(f"expands to {_MORE_THAN} characters a value may have", path)
        return expanded

    def reference(match: re.Match[str], path: Loc) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name is None:
            raise ConfigError(
                "'${' must start ${NAME} or ${NAME:-default} (write $${ for a literal ${)",
                file=source,
                key=dotted(path),
            )
        value = environ.get(name)
        if default is not None and not value:
            return default
        if value is None:
            raise ConfigError(
                f"environment variable {name} is not set "
                f"(write ${{{name}:-default}} to give a default)",
                file=source,
                key=dotted(path),
            )
        return value

    problems: list[ConfigError] = []  # every bad value and key; the walk goes on past them

    def walk(value: object, path: Loc) -> object:
        budget.spend(path)
        if isinstance(value, str):
            try:
                if len(value) > MAX_STRING:
                    long = f"is {len(value)} characters long, {_MORE_THAN} a value may have"
                    raise too_long(long, path)
                return substitute(value, path) if "${" in value else value
            except ConfigError as exc:
                problems.append(exc)
                return value
        if isinstance(value, dict):
            out: dict[str, object] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    problems.append(
                        ConfigError(
                            f"key {str(key)[:40]!r} is not a string",
                            file=source,
                            key=dotted(path),
                        )
                    )
                elif len(key) > MAX_KEY:
                    long = f"a key is {len(key)} characters long, more than {MAX_KEY}"
                    problems.append(too_long(long, path))
                else:
                    out[key] = walk(item, (*path, key))
            return out
        if isinstance(value, list | tuple):
            return [walk(item, (*path, i)) for i, item in enumerate(value)]
        return value

    expanded = walk(data, ())
    if problems:
        raise _combined(problems)
    return expanded


def _combined(problems: list[ConfigError]) -> ConfigError:
    """The first problem, told with how many more there are, carrying them all (the daemon
    prints the first; ``check-config --all`` lists every one)."""
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ConfigError(
        first.reason + more, file=first.file, key=first.key, problems=tuple(problems)
    )


@cache
def _schema() -> dict[str, Any]:
    return Settings.model_json_schema(by_alias=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file, for editors (``taskwatch schema``)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **copy.deepcopy(_schema()),
        "title": "taskwatch configuration",
    }


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow ``$ref`` and step into the non-null branch of ``X | None``."""
    defs = _schema().get("$defs", {})
    for _ in range(8):
        if "$ref" in node:
            node = defs.get(str(node["$ref"]).rsplit("/", 1)[-1], {})
        elif "anyOf" in node and "discriminator" not in node:
            branches = [b for b in node["anyOf"] if b.get("type") != "null"]
            node = branches[0] if len(branches) == 1 else {}
        else:
            break
    return node


def _locate(loc: Loc) -> tuple[Loc, Mapping[str, Any], Mapping[str, Any]]:
    """The loc as the user sees it (union tags removed), its schema node and its parent's."""
    node: Mapping[str, Any] = _schema()
    parent: Mapping[str, Any] = {}
    path: list[str | int] = []
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key, not its value", after the key
            continue
        node = _resolve(node)
        tags = node.get("discriminator", {}).get("mapping", {})
        if isinstance(part, str) and part in tags:
            node = _resolve({"$ref": tags[part]})
            continue
        parent = node
        path.append(part)
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            extra = node.get("additionalProperties")
            node = node.get("properties", {}).get(part, extra if isinstance(extra, dict) else {})
    return tuple(path), _resolve(node), parent


def _suggest(word: object, choices: Collection[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _bounds(node: Mapping[str, Any]) -> str:
    parts = []
    for key, op in (("minimum", ">="), ("exclusiveMinimum", ">")):
        if key in node:
            parts.append(f"{op} {node[key]:g}")
    for key, op in (("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in node:
            parts.append(f"{op} {node[key]:g}")
    return "must be " + " and ".join(parts) if parts else "is out of range"


_TYPES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "path_type": "must be a path",
    "missing": "missing required key",
}


def _describe(error: ErrorDetails) -> tuple[Loc, str]:
    """The user's key path and a reason that never quotes a secret."""
    kind, ctx = error["type"], error.get("ctx") or {}
    path, node, parent = _locate(tuple(error["loc"]))
    if kind == "value_error" and isinstance(ctx.get("error"), _Invalid):
        at = ctx["error"].at
        return (*path, *at), str(ctx["error"])
    if kind == "value_error":
        return path, str(ctx.get("error", "is invalid"))
    if kind == "extra_forbidden":
        return path, "unknown key" + _suggest(path[-1], parent.get("properties", {}))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        mapping = node.get("discriminator", {}).get("mapping", {})
        field = node.get("discriminator", {}).get("propertyName", "from")
        valid = ", ".join(mapping)
        if kind == "union_tag_not_found":
            return (*path, field), f"missing required key (one of {valid})"
        tag = str(ctx.get("tag"))  # quoted only if it looks like a word, not a pasted key
        shown = repr(tag) if re.fullmatch(r"[a-z][a-z_-]{0,19}", tag) else "the value"
        return (*path, field), f"{shown} is not one of {valid}" + _suggest(tag, mapping)
    if kind == "literal_error":
        choices = node.get("enum") or ([node["const"]] if "const" in node else [])
        return path, f"must be one of {ctx.get('expected', '')}" + _suggest(
            error.get("input"), [str(c) for c in choices]
        )
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return path, _bounds(node)
    if kind == "too_short":
        minimum = ctx.get("min_length", 1)
        return path, "must not be empty" if minimum == 1 else f"needs at least {minimum} items"
    if kind == "string_too_short":
        minimum = ctx.get("min_length", 1)
        return path, "must not be empty" if minimum == 1 else f"is too short (at least {minimum})"
    if kind in ("too_long", "string_too_long"):
        return path, f"is too long (at most {ctx.get('max_length')})"
    if kind == "model_attributes_type" and "discriminator" in node:
        valid = ", ".join(node["discriminator"].get("mapping", {}))
        return path, f"must be a mapping with 'from', or a source name ({valid})"
    if kind in _TYPES:
        return path, _TYPES[kind]
    message = str(error.get("msg", "is invalid"))  # pydantic's msg never includes the input
    return path, message[:1].lower() + message[1:]


def _root_causes(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Without a container's ``too_short`` caused by its items failing (pydantic reports both)."""

    def caused(error: ErrorDetails) -> bool:
        loc = error["loc"]
        return error["type"] == "too_short" and any(
            len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == loc for other in errors
        )

    return [e for e in errors if not caused(e)] or errors


def _near_line(lines: Mapping[Loc, int], path: Loc) -> str:
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return f" (line {lines[path[:end]]})"
    return ""


def _policy_of(data: object, path: Loc) -> str:
    """``rule 'NAME': `` for a problem inside ``policies[i]`` whose name is readable, so every
    policy error names its rule (as ``taskwatch.policy.rules`` does)."""
    if len(path) < 2 or path[0] != "policies" or not isinstance(path[1], int):
        return ""
    policies = data.get("policies") if isinstance(data, dict) else None
    if not isinstance(policies, list) or not 0 <= path[1] < len(policies):
        return ""
    policy = policies[path[1]]
    name = policy.get("name") if isinstance(policy, dict) else None
    if not isinstance(name, str) or not _POLICY_NAME.match(name):
        return ""
    return f"rule {name!r}: "


def _parse(
    data: object,
    source: str,
    environ: Mapping[str, str] | None,
    actions: Mapping[str, Collection[str]] | None,
    lines: Mapping[Loc, int],
) -> Settings:
    if data is None:
        raise ConfigError("the file is empty (it needs at least 'accounts')", file=source)
    if not isinstance(data, dict):
        raise ConfigError(
            f"the top level must be a mapping of keys, not a {type(data).__name__}", file=source
        )
    expanded = _expand(data, os.environ if environ is None else environ, source, lines)
    try:
        return Settings.model_validate(expanded, context={"actions": actions})
    except ValidationError as exc:
        problems: list[ConfigError] = []
        for error in _root_causes(exc.errors(include_url=False, include_input=True)):
            path, reason = _describe(error)
            problem = ConfigError(
                _policy_of(expanded, path) + reason + _near_line(lines, path),
                file=source,
                key=dotted(path) or None,
            )
            if all(str(p) != str(problem) for p in problems):
                problems.append(problem)
        raise _combined(problems) from None
    except RecursionError:
        raise ConfigError("too deeply nested", file=source) from None


def parse_settings(
    data: object,
    *,
    source: str,
    environ: Mapping[str, str] | None = None,
    actions: Mapping[str, Collection[str]] | None = None,
) -> Settings:
    """Validate already parsed YAML. ``source`` names it in errors; ``environ`` defaults to
    ``os.environ``; ``actions`` (product → action names) enables the full ``api.limits`` check."""
    return _parse(data, source, environ, actions, {})


def load_settings(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    actions: Mapping[str, Collection[str]] | None = None,
) -> Settings:
    """Read, expand and validate the file at ``path``; every problem is a ``ConfigError``."""
    source = str(path)
    data, lines = read_yaml(Path(path), source)
    return _parse(data, source, environ, actions, lines)


def key_lines(path: str | Path) -> dict[str, int]:
    """The line of every key and item of the file at ``path``, by dotted key
    (``policies[0].action``): for problems found after loading (the policy compiler's), which
    name their key but not its line."""
    _data, lines = read_yaml(Path(path), str(path))
    return {dotted(loc): line for loc, line in lines.items()}
