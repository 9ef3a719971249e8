"""A faithful local emulator of the Tencent Cloud task APIs taskwatch uses (MPS, DLC, Live).

It speaks the real wire protocol (TC3 verification with taskwatch's own signing module, the exact
envelope, documented rate limits and error codes) over real HTTP, on a world of tasks that moves on
an injectable clock. Tests, the demo and the benchmarks stand on it; users rehearse policies
against it. Runtime code never imports this package; it imports only ``tencent.signing`` and the
bottom layer (clock, errors).

Modules: ``wire`` (envelope, parameters, errors), ``auth`` (signature and clock-skew checks),
``ratelimit`` (sliding one-second windows), ``world`` (tasks and their lifecycle), ``scenario``
(YAML scenarios), ``faults`` (injected failures), ``mps``/``dlc``/``live`` (the actions), ``server``
(the aiohttp application and the inspection API).
"""
