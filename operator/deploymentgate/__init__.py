"""DeploymentGate: verify every new revision before traffic moves to it."""

__version__ = "0.1.0"
