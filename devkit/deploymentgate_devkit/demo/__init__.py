"""`deploymentgate demo`: the product in three minutes, on a local cluster.

A healthy version is verified and promoted step by step under live user
traffic; a version that fails 8% of requests is caught and reverted. The
manifests it applies are in `manifests/` (and `examples/` at the repo root).
"""
