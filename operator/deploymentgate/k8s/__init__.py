"""Thin Kubernetes layer: builders of the objects the operator owns, and the
few API calls it makes. No gate rules here; those live in `deploymentgate.core`."""
