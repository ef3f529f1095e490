"""The operator process: kopf handlers that feed the pure core and apply what it decides."""
