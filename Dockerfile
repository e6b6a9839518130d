# Mist Infrastructure Manager in a container: the daemon by default, any command line as arguments.
# Build and run lines: docs/operations.md, "Docker". The test suite does not build this image.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
# The runtime dependencies, each pinned and checked against its hash, then the tool itself without dependencies.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-deps . && rm -rf /build
WORKDIR /

# A user without a login; /config holds config.yaml (read-only is fine), /state the reports, state and log.
RUN useradd --system --uid 10001 --user-group --home-dir /state --shell /usr/sbin/nologin mim \
    && mkdir -p /config /state && chown mim:mim /state
ENV MIST_INFRA_MANAGER_CONFIG=/config/config.yaml \
    XDG_STATE_HOME=/state \
    HOME=/state
VOLUME ["/config", "/state"]
WORKDIR /state
USER mim

# SIGTERM (docker stop) ends the daemon cleanly with exit 0.
ENTRYPOINT ["mist-infra-manager"]
CMD ["--daemon"]
