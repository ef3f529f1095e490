"""What DeploymentGate generates from its models, as pure builders (no I/O).

The CRDs (`crdgen`), the admission policies (`approval_policy`,
`serving_policy`, `command_policy`, on `admission`'s helpers) and the
resource reference (`reference`, docs/reference.md). `make generate` writes
them into the checkout; a test fails when a committed one is stale.
"""
