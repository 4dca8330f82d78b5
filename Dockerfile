# syntax=docker/dockerfile:1
# The secrets service as an image: built with the dev dependencies, shipped with the runtime ones only.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY gen ./gen
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim AS runtime
# jemalloc and a 16 MiB young generation keep RSS down under load (see scripts/production-node.sh).
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=50051 \
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The image's unprivileged user (uid 1000); the files stay root-owned and read-only to it.
USER node
EXPOSE 50051
CMD ["node", "--max-semi-space-size=16", "--enable-source-maps", "dist/src/main.js"]
