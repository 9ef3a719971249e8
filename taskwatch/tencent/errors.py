"""Errors of one Tencent Cloud API call, and the one function that picks the class for a code.

The tree is drawn in :mod:`taskwatch.errors`. A subclass exists only where callers handle it
differently: the retry policy, the limiter (throttling), the executor (already done / not found)
and the operator (auth, clock skew). Everything else is a plain :class:`ApiError` with its code.

Text from the wire enters taskwatch here, and only here is it made safe to show: every error's
text, the API's ``Message`` and any quoted body go through :func:`taskwatch.logs.bounded` as the
error is built, scrubbed of secrets (loaded ones, and values that say they are secret: a
``NotifyKey=…``, a URL's password) and capped (:data:`MESSAGE_LIMIT`, bodies
:data:`BODY_SNIPPET`). The status page, the journal, ``taskwatch audit``, the logs and the webhooks
all show what the error holds, so none of them sees the raw text.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskwatch.errors import TaskwatchError
from taskwatch.logs import SCRUB_WINDOW, bounded, scrub

BODY_SNIPPET = 256
"""How much of an unexpected response body an error quotes."""
MESSAGE_LIMIT = 1000
"""Characters of the API's ``Message`` an error keeps (the journal keeps as many); the rest is
cut with a marker saying how much. An error's whole text, with its call site, code and request
id around the message, is capped at :data:`DETAIL_LIMIT`."""
DETAIL_LIMIT = MESSAGE_LIMIT + 500


def snippet(body: bytes | str, limit: int = BODY_SNIPPET) -> str:
    """A printable prefix of a response body, for error messages and logs: scrubbed, then cut
    (marked ``…``)."""
    window = limit + SCRUB_WINDOW  # what can survive the cut, and what scrubbing it needs
    if isinstance(body, bytes):
        body = body[: 4 * window].decode("utf-8", "replace")
    text = scrub(body[:window])
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True, slots=True)
class CallSite:
    """Which call failed: product, action and region (never credentials or parameters)."""

    product: str = ""
    action: str = ""
    region: str | None = None
    account: str = ""
    """Which configured account made the call (a name from the config, not a credential)."""

    def __str__(self) -> str:
        where = f"{self.product}.{self.action}" if self.product or self.action else "api"
        return f"{where}@{self.region}" if self.region else where


NOWHERE = CallSite()


class TencentError(TaskwatchError):
    """One API call failed. Carries which call, never the credentials."""

    def __init__(self, message: str, *, site: CallSite = NOWHERE) -> None:
        self.site = site
        self.detail = bounded(message, DETAIL_LIMIT)
        """The text after the call site: scrubbed and capped (see the module docstring)."""
        super().__init__(self.detail)

    @property
    def product(self) -> str:
        return self.site.product

    @property
    def action(self) -> str:
        return self.site.action

    @property
    def region(self) -> str | None:
        return self.site.region

    def __str__(self) -> str:
        return f"{self.site}: {self.detail}"


class TransportError(TencentError):
    """No valid API answer came back."""

    maybe_executed: bool = True
    """Whether the server may have acted on the request (the outcome is unknown)."""


class NetworkError(TransportError):
    """The connection failed or broke mid-request (reset, TLS, DNS after connect)."""


class ConnectError(NetworkError):
    """The connection could not be opened: the request never reached the server."""

    maybe_executed = False


class RequestTimeout(NetworkError):
    """No complete answer within the timeout."""


class HttpStatusError(TransportError):
    """A non-200 HTTP status: the API itself answers 200 even for errors, so a gateway answered."""

    def __init__(self, status: int, body: bytes, *, site: CallSite = NOWHERE) -> None:
        self.status = status
        self.body = snippet(body)
        super().__init__(f"HTTP {status}: {self.body!r}", site=site)


class ProtocolError(TransportError):
    """HTTP 200, but the body is not JSON or not the ``{"Response": {...}}`` envelope."""

    def __init__(self, reason: str, body: bytes, *, site: CallSite = NOWHERE) -> None:
        self.reason = reason
        self.body = snippet(body)
        super().__init__(f"{reason}: {self.body!r}", site=site)


class ResponseTooLarge(ProtocolError):
    """A 200 answer larger than the transport accepts (``api.max_body_bytes``), refused without
    reading the rest. Not retried: the same request gets the same answer, and every attempt would
    cost the limit's worth of memory and time again."""

    def __init__(
        self, limit: int, *, announced: int | None = None, site: CallSite = NOWHERE
    ) -> None:
        self.reason = f"answer larger than {limit} bytes" + (
            f" (Content-Length {announced})" if announced is not None else ""
        )
        self.body = ""
        self.limit = limit
        self.announced = announced
        TransportError.__init__(
            self, f"{self.reason}, refused unread (see api.max_body_bytes)", site=site
        )


class ApiError(TencentError):
    """The API answered with ``Response.Error``."""

    def __init__(
        self,
        code: str,
        message: str,
        request_id: str,
        *,
        site: CallSite = NOWHERE,
    ) -> None:
        self.code = bounded(code, 128)  # a label value: a sane code is a few dozen characters
        self.message = bounded(message, MESSAGE_LIMIT)
        """The API's ``Message``, scrubbed and capped: what the journal records."""
        self.request_id = bounded(request_id, 128)
        super().__init__(f"{self.code}: {self.message} (RequestId {self.request_id})", site=site)


class ThrottledError(ApiError):
    """``RequestLimitExceeded`` or one of its sub-codes: the call was refused, not executed."""


class AuthError(ApiError):
    """Authentication or authorisation failed; retrying does not help (except clock skew)."""


class SignatureExpiredError(AuthError):
    """The request timestamp is more than five minutes off the server's clock."""


class TaskNotFoundError(ApiError):
    """The task id is unknown to the API (never existed, or past the retention window)."""


class TaskNotActiveError(ApiError):
    """The task already ended, so abort/cancel has nothing to do."""


class ServerError(ApiError):
    """The service failed internally; a read may be tried again."""


_EXACT: dict[str, type[ApiError]] = {
    "AuthFailure.SignatureExpire": SignatureExpiredError,
    "UnauthorizedOperation": AuthError,
    "InvalidParameterValue.TaskId": TaskNotFoundError,  # MPS ManageTask
    "InvalidParameter.InvalidTaskId": TaskNotFoundError,  # DLC CancelTask
    "InvalidParameter.TaskNotExist": TaskNotFoundError,  # Live DeleteLivePullStreamTask
    "InvalidParameter.SQLTaskNotFound": TaskNotFoundError,  # DLC
    "ResourceNotFound": TaskNotFoundError,  # MPS DescribeTaskDetail
    "InvalidParameterValue.NotProcessingTask": TaskNotActiveError,  # MPS ManageTask
    "InvalidParameter.TaskAlreadyFinished": TaskNotActiveError,  # DLC CancelTask
    "ResourceNotFound.TaskAlreadyFailed": TaskNotActiveError,  # DLC CancelTask
    "ResourceNotFound.TaskAlreadyFinished": TaskNotActiveError,  # DLC CancelTask
    "ServiceUnavailable": ServerError,
    "ResourceUnavailable": ServerError,
}

_PREFIX: tuple[tuple[str, type[ApiError]], ...] = (
    ("RequestLimitExceeded", ThrottledError),
    ("AuthFailure", AuthError),
    ("InternalError", ServerError),
)


def error_class(code: str) -> type[ApiError]:
    """The class for an API error code: exact codes first, then families by prefix."""
    if cls := _EXACT.get(code):
        return cls
    for prefix, cls in _PREFIX:
        if code == prefix or code.startswith(prefix + "."):
            return cls
    return ApiError


def api_error(
    code: str,
    message: str,
    request_id: str,
    *,
    site: CallSite = NOWHERE,
) -> ApiError:
    """Build the right :class:`ApiError` subclass for ``code``."""
    return error_class(code)(code, message, request_id, site=site)
