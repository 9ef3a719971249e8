"""The one canary SecretKey of the whole suite.

The emulator harness, the end-to-end daemon helpers and the reliability tests all sign with it, so
every daemon, client and emulator the suite starts handles it. ``tests/conftest.py`` records every
log line, and ``tests/reliability/test_secrets.py`` (plus the session-end check in conftest) fails
the run if the canary shows up anywhere taskwatch writes.
"""

from __future__ import annotations

CANARY_SECRET_ID = "AKIDEMULATORTEST00000000000000000001"
CANARY_SECRET_KEY = "CANARY-SK-suite-7d41e0b9c2a85f36"
