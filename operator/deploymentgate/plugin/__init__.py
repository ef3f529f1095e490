"""`kubectl gate`: the kubectl plugin (console script `kubectl-gate`)."""
