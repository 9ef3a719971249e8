"""A minimal API look-alike for P6: answers every POST with one canned ``DescribeTasks`` answer
(ten tasks), verifying nothing, so the server costs the same whoever calls it.

``python -m tests.bench.echo_server`` prints ``serving http://127.0.0.1:PORT`` and serves until
killed.
"""

from __future__ import annotations

import asyncio
import json
import uuid

from aiohttp import web

TASK = {
    "TaskId": "1250000000-WorkflowTask-0123456789abcdef0123456789abcdeft0",
    "TaskType": "WorkflowTask",
    "CreateTime": "2026-01-01T00:00:00Z",
    "BeginProcessTime": "2026-01-01T00:00:10Z",
    "FinishTime": "0000-00-00T00:00:00Z",
    "SubTaskTypes": ["Transcode"],
}
BODY = json.dumps(
    {"Response": {"TaskSet": [TASK] * 10, "ScrollToken": "", "RequestId": str(uuid.uuid4())}}
).encode()


async def answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


async def main() -> None:
    app = web.Application()
    app.router.add_post("/", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"serving http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
