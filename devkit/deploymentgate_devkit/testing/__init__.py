"""Helpers for running the operator as a real process (tests, demo, benchmarks)."""

from deploymentgate_devkit.testing.operator_process import OperatorProcess

__all__ = ["OperatorProcess"]
