"""The configuration: one YAML file, validated by pydantic into frozen models.

This is the one place that reads the configuration file and the environment (but for the
journal's password, read by :mod:`taskwatch.actions.dsn` each time it connects). It is a package of
four modules, each importable on its own but used through the names re-exported here:

- :mod:`~taskwatch.settings.values`: the value types and field validators (names, regions,
  endpoints, durations, secrets), whose reasons never quote a secret;
- :mod:`~taskwatch.settings.model`: the frozen pydantic models, one per section of the file, with
  :class:`Settings` at the top (accounts in :mod:`~taskwatch.settings.accounts`, policies, actions
  and notifications in :mod:`~taskwatch.settings.policies`, the journal's backend in
  :mod:`~taskwatch.settings.state`, their base in :mod:`~taskwatch.settings.base`);
- :mod:`~taskwatch.settings.reading`: reading the file within budgets (at most 1 MiB, bounded
  values) and the line of every key;
- :mod:`~taskwatch.settings.loading`: ``${VAR}`` expansion, the length of every string and key,
  the JSON Schema, and :func:`load_settings` / :func:`parse_settings`, which turn
  *any* problem into a :class:`~taskwatch.errors.ConfigError` reading ``file: key: reason``.

The package sits in the bottom layer (``.importlinter``): it imports nothing of taskwatch but
``taskwatch.durations`` and ``taskwatch.errors``.
"""

from __future__ import annotations

from taskwatch.settings.accounts import Account
from taskwatch.settings.accounts import CredentialSpec as CredentialSpec
from taskwatch.settings.accounts import DirectorySource as DirectorySource
from taskwatch.settings.accounts import EnvSource as EnvSource
from taskwatch.settings.accounts import ProfileSource as ProfileSource
from taskwatch.settings.accounts import StaticSource as StaticSource
from taskwatch.settings.loading import json_schema, load_settings, parse_settings
from taskwatch.settings.model import (
    Api,
    Http,
    Leader,
    Logging,
    Products,
    ProductSettings,
    Settings,
    State,
)
from taskwatch.settings.model import DlcSettings as DlcSettings
from taskwatch.settings.model import LiveSettings as LiveSettings
from taskwatch.settings.model import MpsSettings as MpsSettings
from taskwatch.settings.model import client_suffix_of as client_suffix_of
from taskwatch.settings.policies import (
    ActionSettings,
    MaxActions,
    NotificationSettings,
    PolicySettings,
)
from taskwatch.settings.values import ACTION_NAMES as ACTION_NAMES
from taskwatch.settings.values import PRODUCT_NAMES as PRODUCT_NAMES
from taskwatch.settings.values import ActionName as ActionName
from taskwatch.settings.values import Delay as Delay
from taskwatch.settings.values import Duration as Duration
from taskwatch.settings.values import Interval as Interval
from taskwatch.settings.values import Name as Name
from taskwatch.settings.values import OutcomeName as OutcomeName
from taskwatch.settings.values import PolicyName as PolicyName
from taskwatch.settings.values import ProductName as ProductName
from taskwatch.settings.values import Region as Region

__all__ = [
    "Account",
    "ActionSettings",
    "Api",
    "Http",
    "Leader",
    "Logging",
    "MaxActions",
    "NotificationSettings",
    "PolicySettings",
    "ProductSettings",
    "Products",
    "Settings",
    "State",
    "json_schema",
    "load_settings",
    "parse_settings",
]
