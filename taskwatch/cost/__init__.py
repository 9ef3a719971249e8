"""Cost estimates: what a task has cost so far and costs per hour, from the price table.

Every figure is an estimate from list prices and what the APIs return, never a bill.
"""

from taskwatch.cost.estimate import Estimate, Pricer, Unpriced

__all__ = ["Estimate", "Pricer", "Unpriced"]
