"""DeploymentGate's devkit: the local cluster, the demo, test helpers and generators.

Everything a checkout runs that the operator does not; the operator image and
a plain install of `deploymentgate` never carry it.
"""
