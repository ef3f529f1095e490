# syntax=docker/dockerfile:1
# The DeploymentGate operator image.
#
# tests/packaging/test_image_install.py replays the build stage's COPY and RUN
# steps into a temporary directory and runs the entrypoint from the result, so
# keep those steps plain: python / "$VIRTUAL_ENV"/bin/... commands only.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV VIRTUAL_ENV=/opt/deploymentgate \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv "$VIRTUAL_ENV"
COPY requirements.lock pyproject.toml ./
COPY operator/ operator/
# The lock pins every package; used as constraints it installs only the
# runtime closure of the operator distribution (no test or lint tools, no
# local cluster, demo or reference app: those are devkit/, which is not in
# the build context). The pip cache lives in a cache mount, never in a
# layer; pip itself is not needed at run time.
RUN --mount=type=cache,target=/root/.cache/pip \
    "$VIRTUAL_ENV/bin/pip" install --constraint requirements.lock . \
    && "$VIRTUAL_ENV/bin/python" -m pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="deploymentgate" \
      org.opencontainers.image.description="Kubernetes operator that verifies every new revision before traffic moves to it"
ENV VIRTUAL_ENV=/opt/deploymentgate \
    PATH=/opt/deploymentgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The same base image in both stages: the venv's interpreter links point at it.
COPY --from=build /opt/deploymentgate /opt/deploymentgate
# Numeric, so Kubernetes can verify runAsNonRoot without a passwd lookup.
USER 65532:65532
# 9090: Prometheus metrics, 8080: liveness (/healthz).
EXPOSE 9090 8080
ENTRYPOINT ["deploymentgate"]
CMD ["run", "--all-namespaces"]
