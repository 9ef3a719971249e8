"""The ``policies``, ``actions`` and ``notifications`` sections: what to do to runaway tasks,
what every policy shares, and whom to tell.

Policies are checked for shape here (names, product, action, caps, a non-empty filter list);
their filter trees stay raw data, compiled and checked against each product's API by
``taskwatch.policy.rules.compile_rules``, which callers run right after loading (this package
sits below the policy layer). Names unique across the list, and a policy's product enabled, are
checked by :class:`~taskwatch.settings.model.Settings`, which sees every section.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    model_validator,
)

from taskwatch import catalog
from taskwatch.settings.base import Section
from taskwatch.settings.values import (
    _FLOAT,
    _INT,
    ActionName,
    Delay,
    Duration,
    OutcomeName,
    PolicyName,
    ProductName,
    _Invalid,
    _listed_once,
    _notification_name,
    _some_filters,
    _webhook,
)


class MaxActions(Section):
    """Blast-radius caps of one policy. They hold in dry-run too (a ``would`` counts), and
    ``actions.max_per_cycle`` applies on top of them."""

    per_cycle: Annotated[int, Field(ge=1), _INT] | None = None
    """Actions in one cycle of one source (account, product, region); default: no cap."""
    per_hour: Annotated[int, Field(ge=1), _INT] | None = None
    """Actions in any sliding hour, across every source; default: no cap."""
    percent: Annotated[float, Field(gt=0, le=100), _FLOAT] | None = None
    """At most this share, in percent, of the active tasks of a source in one cycle; default:
    no cap."""


class PolicySettings(Section):
    """One policy as written. Its filters stay raw data here: ``taskwatch.policy.rules``
    compiles them and checks them against the product's API (this module sits below it)."""

    name: PolicyName
    """Label of the ``policy`` metric label and of journal entries: ``[a-z0-9][a-z0-9_.-]*``,
    at most 63 characters; unique."""
    product: ProductName
    """The product whose tasks the policy watches: mps, dlc or live."""
    action: ActionName
    """What to do to a matching task: ``abort`` (mps), ``cancel`` (dlc) or ``delete`` (live)."""
    filters: Annotated[tuple[Any, ...], AfterValidator(_some_filters)]
    """What a task must match (all of them). At least one: no policy matches everything."""
    exclude: Annotated[tuple[Any, ...], Field(min_length=1)] | None = None
    """Filters of tasks never to act on: a task matching any of them is left alone."""
    enforce: bool = False
    """Act for real; default: dry-run (decisions are journaled as ``would``)."""
    grace: Delay = 0.0
    """How long a task must keep matching before it is acted on; default: at once."""
    max_actions: MaxActions = MaxActions()
    """This policy's blast-radius caps."""
    operator: Annotated[str, Field(min_length=1, max_length=64)] = "taskwatch"
    """The ``Operator`` of Live's DeleteLivePullStreamTask (live policies only)."""
    assume_runs_for: Duration | None = None
    """How much longer a task this policy stops would have run, for the spend it saved when the
    task's estimate knows no end (a Live pull-stream task's EndTime, a transcode's progress);
    default: unknown, and the saved spend is counted per hour avoided instead."""

    @model_validator(mode="after")
    def _coherent(self) -> PolicySettings:
        if "operator" in self.model_fields_set and not catalog.get(self.product).operator:
            takers = [spec for spec in catalog.PRODUCTS.values() if spec.operator]
            raise _Invalid(
                f"only {' or '.join(s.name for s in takers)} policies take an operator "
                f"({', '.join(f'{s.call}' for s in takers)}'s Operator)",
                "operator",
            )
        return self


class ActionSettings(Section):
    """What every policy shares: the kill switch, the global cap, the journal."""

    paused: bool = False
    """The kill switch: while true no action is taken, enforced or not (each decision is
    journaled as ``skipped_cap``)."""
    max_per_cycle: Annotated[int, Field(ge=1), _INT] = 20
    """Actions (``would`` included) across every policy in one cycle of one source (account,
    product, region), the reactions until its next cycle included (deadline timers, hints)."""
    journal_retention: Duration = 30 * 86400.0
    """How long action journal entries are kept."""
    attempts: Annotated[int, Field(ge=1, le=5), _INT] = 3
    """Calls per task in one cycle at most, the first included: an action that failed
    transiently (throttled, ``InternalError``) or whose outcome is unknown (timeout, reset,
    HTTP 5xx) is tried again later in the same cycle, each time after re-describing the task."""
    retry_after: Duration = 5.0
    """Wait before trying again after an unknown outcome, so that a call still in flight has
    landed before the task is re-described. Calls refused outright wait 0.5 s, then 1 s."""
    timers: bool = True
    """Act at the instant a time rule is crossed (``running_longer_than``, ``age``, a grace's
    end), not at the next poll: each tracked task's next crossing is predicted from its times
    and a timer re-evaluates it then (the fence re-describes it before any action). Off: time
    rules are evaluated at each poll only."""
    max_timers: Annotated[int, Field(ge=1, le=1_000_000), _INT] = 10_000
    """Timers pending per source at most (one per task); the earliest are kept, the rest wait
    for polling."""


class NotificationSettings(Section):
    """A webhook told about actions, in batches."""

    name: Annotated[str, AfterValidator(_notification_name)]
    """Label of logs and metrics for this webhook; unique."""
    url: Annotated[SecretStr, BeforeValidator(_webhook)]
    """``http(s)://...``; a credential: masked in logs and dumps, never quoted in errors."""
    format: Literal["generic", "wecom", "slack"] = "generic"
    """``generic`` (a JSON list of records), ``wecom`` (WeCom group bot markdown) or ``slack``
    (an incoming webhook's text)."""
    batch_size: Annotated[int, Field(ge=1, le=1000), _INT] = 20
    """Records per message at most."""
    flush_interval: Duration = 10.0
    """A batch that is not full is sent this long after its first record."""
    timeout: Duration = 5.0
    """Bound on one delivery attempt."""
    attempts: Annotated[int, Field(ge=1, le=10), _INT] = 3
    """Delivery attempts per batch, the first included."""
    results: Annotated[tuple[OutcomeName, ...], Field(min_length=1)] = ("done", "failed", "unknown")
    """The outcomes to notify about: done, would, already_done, skipped_cap, fenced, failed,
    unknown."""

    @model_validator(mode="after")
    def _coherent(self) -> NotificationSettings:
        _listed_once("results", self.results)
        return self
