# syntax=docker/dockerfile:1
# The secrets service as an image, in three stages: `deps` installs the runtime dependencies only
# (npm ci --omit=dev), `build` compiles src/ and gen/ into dist/ with the dev dependencies, and the
# runtime stage takes node_modules from `deps` and dist/ from `build`, so no dev dependency, source
# file or build tool reaches it. It runs as an unprivileged numeric user (Kubernetes' runAsNonRoot can
# check a number), with root-owned files it cannot change, and works on a read-only root file system.
# No install scripts run (--ignore-scripts): no runtime dependency has one, and tsc needs none.

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/with-node.sh scripts/node-env.sh ./scripts/
COPY gen ./gen
COPY src ./src
# dist/src/main.js (the server), dist/src/cli/healthcheck.js (the probe below), dist/gen (generated code).
RUN npm run build && test -f dist/src/main.js && test -f dist/src/cli/healthcheck.js

FROM node:24-slim AS runtime
# jemalloc and a 16 MiB young generation keep RSS down under load (see scripts/production-node.sh).
# The library is linked to one path for every architecture, so LD_PRELOAD never names a missing file.
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/* \
    && ln -s "/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2" /usr/local/lib/libjemalloc.so.2 \
    && test -r /usr/local/lib/libjemalloc.so.2
ENV HOST=0.0.0.0 \
    PORT=50051 \
    LD_PRELOAD=/usr/local/lib/libjemalloc.so.2
WORKDIR /app
# package.json says "type": "module", which the compiled files need.
COPY --from=deps /app/package.json ./package.json
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# uid/gid 1000 is the base image's unprivileged `node` user.
USER 1000:1000
EXPOSE 50051
# grpc.health.v1.Health/Check of the API over h2c on 127.0.0.1:$PORT (TLS when TLS_CERT_FILE and
# TLS_KEY_FILE are set); exit 0 only on SERVING. The probe's own deadline is below --timeout.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "dist/src/cli/healthcheck.js", "secrets.v1.SecretsService", "--timeout", "3000"]
CMD ["node", "--max-semi-space-size=16", "--enable-source-maps", "dist/src/main.js"]
