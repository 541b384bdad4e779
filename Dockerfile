# syntax=docker/dockerfile:1
# regflow's one image: the compiled JavaScript on Node 20 LTS, run as a non-root user. The
# entrypoint is the `regflow` command, so a container runs whatever part of the pipeline its
# command names:
#
#   docker build -t regflow .
#   docker run --rm regflow run entry-filter entry-replicator   # one or more processors
#   docker run --rm regflow connector run                       # DynamoDB Streams → Kafka
#   docker run --rm regflow schedulers run                      # a scheduler replica
#   docker run --rm -p 3000:3000 regflow api                    # registration + admin HTTP API
#   docker run --rm regflow topics create                       # one-shot: the topology's topics
#
# Point it at the services with the REGFLOW_* variables (README, Configuration);
# docker-compose.kafka.yml runs the whole stack this way.

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# 1. Compile: every dependency (TypeScript is a dev dependency), then `npm run build` → dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build

# 2. Production dependencies only.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

# 3. Runtime: node_modules + dist, owned by root and read-only to the `node` user (uid 1000).
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    REGFLOW_HTTP_HOST=0.0.0.0 \
    REGFLOW_API_HOST=0.0.0.0 \
    REGFLOW_DATA_DIR=/tmp/regflow
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
RUN printf '#!/bin/sh\nexec node /app/dist/cli/regflow.js "$@"\n' > /usr/local/bin/regflow \
 && chmod 0755 /usr/local/bin/regflow
USER node
# /healthz, /readyz, /metrics of a processor, the connector or the schedulers; the HTTP API.
EXPOSE 9464 3000
ENTRYPOINT ["regflow"]
CMD ["--help"]
