"""The objects DeploymentGate ships to the API server, built from the models.

The CRDs (`crdgen`) and the admission policies (`approval_policy`,
`serving_policy`, `command_policy`, on `admission`'s helpers) are pure
builders: no I/O. `make generate` writes them into deploy/.
"""
