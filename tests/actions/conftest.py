"""The executor's bench, as a fixture for every test here."""

from tests.actions.bench import bench

__all__ = ["bench"]
