# syntax=docker/dockerfile:1
# driftgate: one image for the gateway and the registry (the command picks which; deploy/kubernetes/).
#
#   docker build -t driftgate:0.1.0 .
#   docker run --rm -p 8001:8001 driftgate:0.1.0 serve        # one box: registry + gateway + demo model
#
# Two stages: "build" makes a virtual environment with `pip install .` (the runtime dependencies
# only: no dev or bench extra, no compilers left behind) and imports what the image runs; "runtime"
# copies that environment onto a clean slim base and runs as an unprivileged user. Nothing here was
# built on the project's machines (they reach no container registry for the base image):
# tests/deploy/test_dockerfile.py checks this file's structure, docs/deploy.md says what was and
# was not tried.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/driftgate
WORKDIR /src
COPY pyproject.toml README.md ./
COPY driftgate ./driftgate
RUN /opt/driftgate/bin/pip install --no-cache-dir . \
    && /opt/driftgate/bin/python -c "import driftgate.gateway.server, driftgate.registry.server, driftgate.registry.dashboard.app, driftgate.cli.main"

FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
RUN groupadd --system --gid ${UID} driftgate \
    && useradd --system --uid ${UID} --gid ${UID} --no-create-home --home-dir /var/lib/driftgate \
       --shell /usr/sbin/nologin driftgate \
    && install -d -o ${UID} -g ${UID} -m 0750 /var/lib/driftgate
COPY --from=build /opt/driftgate /opt/driftgate
ENV PATH=/opt/driftgate/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NUMBA_CACHE_DIR=/var/lib/driftgate/numba-cache
WORKDIR /var/lib/driftgate
USER ${UID}:${UID}
# 8001: inference gRPC (and grpc.health.v1); 8002: gateway Prometheus metrics; 8005: registry control API
EXPOSE 8001 8002 8005
ENTRYPOINT ["driftgate", "--home", "/var/lib/driftgate"]
CMD ["gateway"]
