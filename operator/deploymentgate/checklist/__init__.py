"""``deploymentgate check``: a gate's probes against a running service, as a checklist."""
