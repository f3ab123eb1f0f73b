# The engine's image: `python worker.py` by default, `python cli.py ...` for the command line
# (docker-compose.yml runs both). Built from pyproject.toml with `pip install .`, no dev extras.
ARG PYTHON_IMAGE=python:3.11.15-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# s3: boto3, for BLOB_STORE=s3://... (workers on several hosts). tracing: OpenTelemetry, used
# only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
ARG EXTRAS=s3,tracing
# The dependencies first, from pyproject.toml alone: a change to the code reuses this layer.
COPY pyproject.toml ./
RUN python -c "import os, tomllib; \
project = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = project.get('optional-dependencies', {}); \
chosen = [extras.get(name.strip(), []) for name in os.environ['EXTRAS'].split(',')]; \
print('\n'.join(project['dependencies'] + [req for reqs in chosen for req in reqs]))" \
    > /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt
COPY . .
RUN pip install ".[${EXTRAS}]"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WORKSPACE_DIR=/app/workspace \
    DATA_DIR=/app/data
RUN groupadd --system --gid 10001 agentic \
    && useradd --system --uid 10001 --gid agentic --create-home --home-dir /home/agentic \
        --shell /usr/sbin/nologin agentic
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The entry points the README names, and the example plans (`--plan examples/hello.json`);
# the code itself is the installed package.
COPY cli.py worker.py ./
COPY examples/*.json ./examples/
# Named volumes start as copies of these directories: owned by the user that writes them.
RUN mkdir -p workspace data && chown agentic:agentic workspace data
USER agentic
VOLUME ["/app/workspace", "/app/data"]
CMD ["python", "worker.py"]
