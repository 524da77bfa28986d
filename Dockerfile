# The controller image: the wheel is built in the first stage; the final stage has
# no compiler, no pip cache and runs as a numeric non-root user.
# Pinned base; bump deliberately (and re-run `make test`, which lints this file).
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
# The product's sources only: the lab (lab/, distribution meshlab) is not copied,
# so neither it nor its dependencies can reach the image.
COPY pyproject.toml README.md ./
COPY rollout ./rollout
COPY strategies ./strategies
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="meshrollout controller" \
      org.opencontainers.image.description="Progressive canary rollouts for Istio, judged on Prometheus data" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/meshrollout"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "meshrollout==${VERSION}" \
    && rm -rf /wheels
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["rollout", "controller"]
