"""Policies: which tasks to act on, decided as pure data.

``rules`` compiles the ``policies:`` of the settings into frozen :class:`Rule` objects, refusing
at load anything the product's API would refuse later; ``engine`` evaluates them against tasks.
The filter language lives in ``syntax`` (parsing and checks), ``filters`` (semantics) and
``patterns`` (regexes, run by RE2 in linear time); ``catalog`` holds the product facts policy
needs and ``feasibility`` judges what a rule can match.

This package reads tasks and settings only: it never calls an API and knows no clock (``now`` is
passed in). Its one state is ``grace``: since when each task has matched each rule.
"""

from __future__ import annotations

from taskwatch.policy.engine import evaluate, explain, matches
from taskwatch.policy.filters import AllOf, AnyOf, Compare, Filter, Key, Not
from taskwatch.policy.rules import Caps, Rule, compile_rule, compile_rules

__all__ = [
    "AllOf",
    "AnyOf",
    "Caps",
    "Compare",
    "Filter",
    "Key",
    "Not",
    "Rule",
    "compile_rule",
    "compile_rules",
    "evaluate",
    "explain",
    "matches",
]
