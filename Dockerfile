# Quittance production image: `docker build -t quittance .`
# Run: docker run -v quittance-var:/app/var -v ./quittance.toml:/config/quittance.toml:ro \
#        -e QUITTANCE_EMAIL__PASSWORD=… -p 8080:8080 -p 127.0.0.1:8081:8081 quittance
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY connectors ./connectors
COPY templates ./templates
RUN pip install --no-cache-dir --upgrade pip && pip install --no-cache-dir .

FROM python:3.11-slim
# The folders a named volume is mounted on exist here, owned by the service's user: a new
# volume takes their owner, so the service can write to it.
RUN useradd --create-home --uid 10001 quittance \
 && mkdir -p /app/var/archive /app/var/keys /config && chown -R quittance /app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    QUITTANCE_CONFIG=/config/quittance.toml \
    QUITTANCE_SERVER__HOST=0.0.0.0 \
    QUITTANCE_SERVER__PORT=8080 \
    QUITTANCE_DASHBOARD__HOST=0.0.0.0
WORKDIR /app
USER quittance
VOLUME ["/app/var"]
# 8081: the owner's dashboard; publish it on the host's loopback only (-p 127.0.0.1:8081:8081)
# and reach it through your https reverse proxy, never straight from the internet.
EXPOSE 8080 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["quittance"]
CMD ["run"]
