"""``taskwatch api``: one signed call through taskwatch's own client and rate limiter.

Why: before starting the daemon an operator checks credentials, permissions and endpoints with
the exact signer, endpoint policy and limiter the daemon will use, not with another tool that may
sign or route differently. The response is printed as the API's JSON envelope.

Not guaranteed: that a call succeeding here means the daemon's configured credentials work; this
command reads its own (``--credentials``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from taskwatch.cli.common import EXIT_OK, UsageError
from taskwatch.limiter import Limiter
from taskwatch.tencent import catalog
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import from_config
from taskwatch.tencent.endpoints import DEFAULT_ROOT_DOMAIN, INTL_ROOT_DOMAIN, EndpointPolicy
from taskwatch.tencent.transport import Timeouts, Transport

__all__ = ["add_parser", "parse_params", "run"]


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
    api.add_argument("--endpoint", help="full endpoint override, e.g. http://127.0.0.1:9460")
    api.add_argument("--method", choices=("POST", "GET"), default="POST")
    api.add_argument(
        "--intl", action="store_true", help=f"use the international domain {INTL_ROOT_DOMAIN}"
    )
    api.add_argument(
        "--regional", action="store_true", help="use <product>.<region>.<domain> hosts"
    )
    api.add_argument(
        "--credentials",
        choices=("env", "profile", "directory"),
        default="env",
        help="where the SecretId/SecretKey come from (default: env)",
    )
    api.add_argument("--credentials-path", help="profile file or credentials directory")
    api.add_argument("--profile", default="default", help="profile section (default: default)")
    api.add_argument(
        "--budget", type=float, default=1.0, help="share of the documented rate limit to use"
    )
    api.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole call")
    api.add_argument("--language", choices=("en-US", "zh-CN"), default="en-US")


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
    """The ``credentials`` configuration entry the command line describes."""
    spec: dict[str, Any] = {"from": args.credentials}
    if args.credentials == "profile":
        spec.update(profile=args.profile, path=args.credentials_path)
    elif args.credentials == "directory":
        spec["path"] = args.credentials_path
    return spec


async def run(args: argparse.Namespace) -> int:
    """One call; its JSON on stdout. API errors propagate to the CLI's error mapping (exit 1)."""
    params = parse_params(args.params)
    if not 0 < args.budget <= 1:
        raise UsageError("--budget must be in (0, 1]")
    spec = credentials_spec(args)
    try:
        endpoints = EndpointPolicy(
            root_domain=INTL_ROOT_DOMAIN if args.intl else DEFAULT_ROOT_DOMAIN,
            regional=args.regional,
            override=args.endpoint,
        )
    except ValueError as exc:
        raise UsageError(f"--endpoint: {exc}") from None
    if catalog.PRODUCTS[args.product].region_required and not args.region:
        print(f"warning: {args.product} requires --region; the API will refuse", file=sys.stderr)
    async with Transport(timeouts=Timeouts(total=args.timeout)) as transport:
        client = TencentClient(
            credentials=from_config(spec),
            transport=transport,
            endpoints=endpoints,
            gate=Limiter(budget=args.budget),
            language=args.language,
        )
        response = await client.call(
            args.product, args.action, params, region=args.region, method=args.method
        )
    json.dump({"Response": response}, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK
