"""What every section model of the configuration shares: :class:`Section`.

Frozen (a loaded configuration is never changed in place; a reload builds a new one), unknown
keys forbidden (a typo is an error naming the key, never a silently ignored setting), no NaN or
infinity in any number, and each field's docstring becomes its description in the JSON Schema
(``taskwatch config schema``) — which is why the field docstrings are written for operators.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """The base of every section model (see the module docstring)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, use_attribute_docstrings=True
    )
