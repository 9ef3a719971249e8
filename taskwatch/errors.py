"""The taskwatch exception tree.

Every error taskwatch raises on purpose derives from :class:`TaskwatchError`, so the CLI and the
supervisor can tell "ours, with a clear message" from a bug. Foreign exceptions (aiohttp, OSError,
json) are translated at the boundary that meets them and never leak upwards::

    TaskwatchError
    ├── ConfigError             bad configuration: names the file, the key and the reason
    ├── CredentialError         credentials missing or unreadable (never quotes a secret)
    ├── StoreError              the journal cannot be opened, read or written (names the file)
    ├── IntentRefused           the journal refused an intent: paused, deposed, capped, or open
    ├── CycleTimeout            a scan cycle outlived its loop's timeout and was cancelled
    └── TencentError            one Tencent Cloud API call failed  (taskwatch.tencent.errors)
        ├── TransportError      no valid API answer came back
        │   ├── NetworkError        connection refused/reset, DNS, TLS
        │   │   ├── ConnectError        the request never left: safe to send again
        │   │   └── RequestTimeout      no answer in time: outcome unknown
        │   ├── HttpStatusError     a non-200 status (a proxy or gateway answered)
        │   └── ProtocolError       200 but not JSON, or not the API 3.0 envelope
        │       └── ResponseTooLarge    a body past api.max_body_bytes, refused unread
        └── ApiError            the API answered Response.Error (code, message, request id)
            ├── ThrottledError      RequestLimitExceeded*
            ├── AuthError           AuthFailure.*, UnauthorizedOperation
            │   └── SignatureExpiredError   the local clock is off by more than 5 minutes
            ├── TaskNotFoundError   the task id is unknown or expired
            ├── TaskNotActiveError  the task already ended (abort/cancel has nothing to do)
            └── ServerError         InternalError*, ServiceUnavailable, ResourceUnavailable

Messages never contain a SecretKey or session token; text from the API is scrubbed where the
error is built, messages are cut to 1,000 characters and response bodies to 256.
"""

from __future__ import annotations


class TaskwatchError(Exception):
    """Base of every error taskwatch raises deliberately."""


class ConfigError(TaskwatchError):
    """The configuration is invalid. ``str()`` reads ``file: key: reason``.

    ``problems`` is every problem found, each a ``ConfigError`` of its own, first one first (the
    one ``str()`` tells, with ``(and N more)`` when there are others); an error raised for a
    single problem is its own only problem. Not guaranteed: that every problem of the file is
    there; a loader stops at what makes the rest unreadable (bad YAML, an unset variable).
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        key: str | None = None,
        problems: tuple[ConfigError, ...] = (),
    ) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        self._problems = problems
        parts = [p for p in (file, key) if p]
        super().__init__(": ".join([*parts, reason]))

    @property
    def problems(self) -> tuple[ConfigError, ...]:
        """Every problem found (at least this one)."""
        return self._problems or (self,)


class CredentialError(TaskwatchError):
    """Credentials could not be loaded. Names where it looked, never what it found."""


class StoreError(TaskwatchError):
    """The journal database is missing, corrupt, from a newer taskwatch, or failed an operation.

    ``path`` is the database file; the message names it.
    """

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(message)


class IntentRefused(TaskwatchError):
    """The journal refused to record an intent, so the action must not be sent. Not a failure of
    the journal: the refusal is the journal doing its job across replicas.

    ``why`` is one of ``paused`` (the shared kill switch is on), ``term`` (the writer's leadership
    term is not the journal's current one: a deposed leader), ``cap`` (the policy's ``per_hour``
    cap is reached, counted across every writer), ``open`` (another intent for the same task and
    action is in flight) or ``done`` (another intent for it already acted).
    """

    def __init__(self, why: str, message: str) -> None:
        self.why = why
        super().__init__(message)


class CycleTimeout(TaskwatchError):
    """A scan cycle was still running at its loop's timeout and was cancelled: a failed cycle
    like any other (counted with reason ``CycleTimeout``). ``timeout`` is in seconds."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(f"the cycle was still running after {timeout:g}s and was cancelled")
