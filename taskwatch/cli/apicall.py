"""``taskwatch api``: one signed call through taskwatch's own client and rate limiter.

Why: before starting the daemon an operator checks credentials, permissions and endpoints with
the exact signer, endpoint policy and limiter the daemon will use, not with another tool that may
sign or route differently. The response is printed as the API's JSON envelope.

Credentials come from one of two places:

* the command line (``--credentials``): every source a configuration can name but ``static``
  (``env``, ``profile``, ``directory``, and the role sources ``cvm-role``, ``oidc`` and
  ``assume-role``, the latter signed by ``--source-credentials``), written as the ``credentials``
  block it stands for and checked by the configuration's own model, so a role ARN, a session name
  or a duration the daemon would refuse is refused here too (exit 2);
* a daemon configuration (``--config FILE [--account NAME]``): the account's own ``credentials``
  block, endpoint, root domain, regional hosts, budget, rate-limit overrides, language and
  ``client_suffix``, so one call checks exactly what the daemon would sign with. It excludes every
  credential and endpoint option (exit 2).

Role sources reach STS where the call goes (``--endpoint``, ``--intl``, ``--regional``), as an
account's do (:class:`~taskwatch.tencent.credentials_role.RoleContext`), unless
``--sts-endpoint`` names another; the metadata service is never derived from ``--endpoint`` (on a
CVM it is a link-local address whatever the API's endpoint): ``--metadata-endpoint`` moves it.
Before the call the source's SecretId is printed to stderr, masked
(:attr:`~taskwatch.tencent.credentials.Credentials.masked_id`), so an operator sees which key
signed; never a key or token.

Not guaranteed: that the daemon's credentials work later (temporary credentials expire, a role's
permissions change); a ``--config`` call uses this command's transport and ``--timeout``, not the
configuration's ``api.timeout``, and no retries.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from taskwatch.cli.common import EXIT_OK, UsageError, load_settings
from taskwatch.clock import SystemClock
from taskwatch.errors import CredentialError
from taskwatch.limiter import Limiter
from taskwatch.settings import Account, CredentialSpec, Settings
from taskwatch.tencent import catalog
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import Credentials, CredentialSource, from_config
from taskwatch.tencent.credentials_role import RoleContext
from taskwatch.tencent.endpoints import DEFAULT_ROOT_DOMAIN, INTL_ROOT_DOMAIN, EndpointPolicy
from taskwatch.tencent.transport import Timeouts, Transport

__all__ = ["add_parser", "credentials_spec", "parse_params", "run"]

SOURCES = ("env", "profile", "directory", "cvm-role", "oidc", "assume-role")
SIGNERS = ("env", "profile", "directory")
"""What may sign ``AssumeRole`` from the command line (a configuration allows more)."""
DEFAULT_SESSION = "taskwatch-cli"
"""``RoleSessionName`` of this command's role sessions: CloudAudit tells them from the daemon's."""
_ROLE_OPTIONS = {
    "role_arn": ("--role-arn", ("assume-role",)),
    "session_name": ("--session-name", ("assume-role", "oidc")),
    "duration": ("--duration", ("assume-role", "oidc")),
    "source_credentials": ("--source-credentials", ("assume-role",)),
    "sts_endpoint": ("--sts-endpoint", ("assume-role", "oidc")),
    "metadata_endpoint": ("--metadata-endpoint", ("cvm-role",)),
}
"""Each role option: its flag and the ``--credentials`` it applies to."""
_NOT_WITH_CONFIG = (
    ("credentials", "--credentials"), ("credentials_path", "--credentials-path"),
    ("profile", "--profile"), ("endpoint", "--endpoint"), ("intl", "--intl"),
    ("regional", "--regional"),
    *((name, flag) for name, (flag, _) in _ROLE_OPTIONS.items()),
)  # fmt: skip
_FIELD_FLAGS = {
    "role_arn": "--role-arn",
    "session_name": "--session-name",
    "duration": "--duration",
    "path": "--credentials-path",
    "profile": "--profile",
}


def add_parser(sub: Any) -> None:
    """The ``api`` subcommand, on the CLI's subparsers."""
    api = sub.add_parser(
        "api",
        help="make one signed API call and print the response JSON",
        description=(
            "One signed call through taskwatch's client and rate limiter. Use it to check "
            "credentials, permissions and endpoints before starting the daemon."
        ),
    )
    api.add_argument("product", choices=sorted(catalog.PRODUCTS), help="mps, dlc or live")
    api.add_argument("action", help="API action, e.g. DescribeTasks")
    api.add_argument("params", nargs="?", default="{}", help="request parameters as JSON object")
    api.add_argument("--region", help="X-TC-Region, e.g. ap-guangzhou (required for dlc, live)")
    api.add_argument(
        "--endpoint", help="full endpoint override, e.g. http://127.0.0.1:9460 (STS included)"
    )
    api.add_argument("--method", choices=("POST", "GET"), default="POST")
    api.add_argument(
        "--intl", action="store_true", help=f"use the international domain {INTL_ROOT_DOMAIN}"
    )
    api.add_argument(
        "--regional", action="store_true", help="use <product>.<region>.<domain> hosts"
    )
    api.add_argument(
        "--credentials",
        choices=SOURCES,
        help="where the SecretId/SecretKey come from (default: env)",
    )
    api.add_argument(
        "--credentials-path",
        help="profile file or credentials directory (of --source-credentials for assume-role)",
    )
    api.add_argument("--profile", help="profile section (default: default)")
    api.add_argument("--role-arn", help="assume-role: qcs::cam::uin/<account id>:roleName/<name>")
    api.add_argument(
        "--session-name", help=f"assume-role, oidc: RoleSessionName (default: {DEFAULT_SESSION})"
    )
    api.add_argument("--duration", help="assume-role, oidc: lifetime, 15m to 12h (default: 2h)")
    api.add_argument(
        "--source-credentials",
        choices=SIGNERS,
        help="assume-role: what signs AssumeRole (default: env)",
    )
    api.add_argument(
        "--sts-endpoint", help="assume-role, oidc: STS's URL (default: where the call goes)"
    )
    api.add_argument(
        "--metadata-endpoint",
        help="cvm-role: the metadata service (default: http://metadata.tencentyun.com/latest/"
        "meta-data/)",
    )
    api.add_argument(
        "--config", help="use an account of this daemon configuration (credentials, endpoint)"
    )
    api.add_argument("--account", help="with --config: the account (default: the only one)")
    api.add_argument(
        "--budget",
        type=float,
        help="share of the documented rate limit to use (default: 1.0, or the account's)",
    )
    api.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole call")
    api.add_argument(
        "--language", choices=("en-US", "zh-CN"), help="default: en-US, or the configuration's"
    )


def parse_params(text: str) -> dict[str, Any]:
    """The request parameters: a JSON object, or a usage error that shows the expected shape."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"params: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError('params: must be a JSON object, e.g. \'{"Status": "WAITING"}\'')
    return value


def credentials_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The ``credentials`` configuration block the command line describes, checked by the
    configuration's own model (:data:`taskwatch.settings.CredentialSpec`); a usage error names
    the option."""
    kind = args.credentials or "env"
    for name, (flag, kinds) in _ROLE_OPTIONS.items():
        if getattr(args, name) is not None and kind not in kinds:
            raise UsageError(f"{flag} applies to --credentials {' or '.join(kinds)}")
    if kind == "assume-role":
        if not args.role_arn:
            raise UsageError("--credentials assume-role needs --role-arn")
        spec: dict[str, Any] = {
            "from": kind,
            "role_arn": args.role_arn,
            "source": _signer(args.source_credentials or "env", args),
        }
    elif kind in ("profile", "directory"):
        spec = _signer(kind, args)
    else:
        spec = {"from": kind}
    if kind in ("assume-role", "oidc"):
        spec["session_name"] = args.session_name or DEFAULT_SESSION
        if args.duration is not None:
            spec["duration"] = args.duration
        if args.sts_endpoint is not None:
            spec["endpoint"] = args.sts_endpoint
    if kind == "cvm-role" and args.metadata_endpoint is not None:
        spec["endpoint"] = args.metadata_endpoint
    return _checked(spec)


def _signer(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {"from": kind}
    if kind == "profile":
        spec["profile"] = args.profile or "default"
    if kind in ("profile", "directory") and args.credentials_path is not None:
        spec["path"] = args.credentials_path
    return spec


def _checked(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` as the configuration would read it; the error names the option, not the value."""
    try:
        source = TypeAdapter(CredentialSpec).validate_python(spec)
    except ValidationError as exc:
        error = exc.errors()[0]
        names = [str(part) for part in error["loc"]]
        field = next((n for n in reversed(names) if n in _FIELD_FLAGS or n == "endpoint"), "")
        if field == "endpoint":
            flag = "--metadata-endpoint" if spec["from"] == "cvm-role" else "--sts-endpoint"
        else:
            flag = _FIELD_FLAGS.get(field, "--credentials")
        reason = str(error["msg"]).removeprefix("Value error, ")
        raise UsageError(f"{flag}: {reason}") from None
    return source.to_spec()


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one call is made with: credentials, endpoints, limiter, language and suffix."""

    spec: dict[str, Any]
    label: str
    endpoints: EndpointPolicy
    budget: float
    overrides: dict[tuple[str, str], float]
    language: str
    client_suffix: str | None = None
    account: str = "default"


def _from_arguments(args: argparse.Namespace) -> _Plan:
    if args.account is not None:
        raise UsageError("--account applies to --config")
    spec = credentials_spec(args)
    try:
        endpoints = EndpointPolicy(
            root_domain=INTL_ROOT_DOMAIN if args.intl else DEFAULT_ROOT_DOMAIN,
            regional=args.regional,
            override=args.endpoint,
        )
    except ValueError as exc:
        raise UsageError(f"--endpoint: {exc}") from None
    budget = 1.0 if args.budget is None else args.budget
    return _Plan(spec, f"from {spec['from']}", endpoints, budget, {}, args.language or "en-US")


def _from_config(args: argparse.Namespace) -> _Plan:
    given = [flag for name, flag in _NOT_WITH_CONFIG if getattr(args, name) not in (None, False)]
    if given:
        raise UsageError(
            f"--config uses the account's own credentials and endpoint: drop {', '.join(given)}"
        )
    settings = load_settings(args.config)
    account = _account(settings, args.account)
    spec = account.credentials.to_spec()
    endpoints = EndpointPolicy(
        root_domain=account.root_domain, regional=account.regional, override=account.endpoint
    )
    budget = settings.budget_for(account) if args.budget is None else args.budget
    return _Plan(
        spec,
        f"of account {account.name!r} from {spec['from']}",
        endpoints,
        budget,
        dict(settings.api.limit_overrides()),
        args.language or settings.api.language,
        account.client_suffix,
        account.name,
    )


def _account(settings: Settings, name: str | None) -> Account:
    names = [a.name for a in settings.accounts]
    if name is None and len(names) == 1:
        return settings.accounts[0]
    if name is None:
        raise UsageError(f"the configuration has {len(names)} accounts: name one with --account")
    for account in settings.accounts:
        if account.name == name:
            return account
    raise UsageError(
        f"--account {name!r}: not in the configuration; accounts: {', '.join(sorted(names))}"
    )


async def _resolve(source: CredentialSource, kind: str) -> Credentials:
    """The credentials the call will sign with (a role source fetches them now)."""
    try:
        return await source.get()
    except CredentialError as exc:
        if kind != "cvm-role":
            raise
        hint = "cvm-role needs a CVM with a CAM role bound: a 404 there means it has none"
        raise CredentialError(f"{exc} ({hint})") from exc


async def run(args: argparse.Namespace) -> int:
    """One call; its JSON on stdout. API errors propagate to the CLI's error mapping (exit 1)."""
    params = parse_params(args.params)
    if args.budget is not None and not 0 < args.budget <= 1:
        raise UsageError("--budget must be in (0, 1]")
    plan = _from_config(args) if args.config is not None else _from_arguments(args)
    if catalog.PRODUCTS[args.product].region_required and not args.region:
        print(f"warning: {args.product} requires --region; the API will refuse", file=sys.stderr)
    async with Transport(timeouts=Timeouts(total=args.timeout)) as transport:
        clock = SystemClock()
        roles = RoleContext(clock=clock, transport=transport, endpoints=plan.endpoints)
        source = from_config(plan.spec, context=roles)
        used = await _resolve(source, str(plan.spec["from"]))
        print(f"using credentials {plan.label} ({used.masked_id})", file=sys.stderr)
        client = TencentClient(
            credentials=source,
            transport=transport,
            account=plan.account,
            endpoints=plan.endpoints,
            gate=Limiter(budget=plan.budget, overrides=plan.overrides, clock=clock),
            clock=clock,
            language=plan.language,
            client_suffix=plan.client_suffix,
        )
        response = await client.call(
            args.product, args.action, params, region=args.region, method=args.method
        )
    json.dump({"Response": response}, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK
