"""Errors of one Tencent Cloud API call, and the one function that picks the class for a code.

The tree is drawn in :mod:`taskwatch.errors`. A subclass exists only where callers handle it
differently: the retry policy, the limiter (throttling), the executor (already done / not found)
and the operator (auth, clock skew). Everything else is a plain :class:`ApiError` with its code.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskwatch.errors import TaskwatchError

BODY_SNIPPET = 256
"""How much of an unexpected response body an error quotes."""


def snippet(body: bytes | str, limit: int = BODY_SNIPPET) -> str:
    """A printable prefix of a response body, for error messages and logs."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
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
        self.detail = message
        super().__init__(message)

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
        self.code = code
        self.message = message
        self.request_id = request_id
        super().__init__(f"{code}: {message} (RequestId {request_id})", site=site)


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
