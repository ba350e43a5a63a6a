# syntax=docker/dockerfile:1
# runledger: OTLP/gRPC and OTLP/HTTP receiver keeping workflow run history for non-human identities.
# Node 24 LTS: Node 20 reached end of life in April 2026; CI tests 20, 22 and 24 (see engines, .ci/run).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 compiles its native binding from source.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY proto ./proto
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
# Settings come from a file, not ENV, so a mounted config can change any key (env overrides win over files).
ENV NODE_ENV=production \
    RUNLEDGER_CONFIG=/app/config/container.yaml
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY proto ./proto
COPY config ./config
RUN mkdir -p /var/lib/runledger && chown 1000:1000 /var/lib/runledger
# Numeric, so Kubernetes can check runAsNonRoot without runAsUser (uid 1000 is `node` in node images).
USER 1000:1000
VOLUME ["/var/lib/runledger"]
EXPOSE 4317 4318 4320
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:4320/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node runs as PID 1 and handles SIGTERM itself (graceful shutdown, exit 0); tini is not needed.
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve"]
