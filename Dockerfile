# syntax=docker/dockerfile:1
# fapi-gateway container image.
#
#   docker build -t fapi-gateway --secret id=npmrc,src=$HOME/.npmrc .
#   buildah build --secret id=npmrc,src=$HOME/.npmrc --build-arg BASE=localhost/node20-base -t fapi-gateway .
#
# npm registry settings (registry, auth token, CA) reach the build only as the `npmrc` build secret,
# mounted for the `npm ci` steps and never written into a layer. Without the secret npm uses its
# defaults (the public registry).
#
# The image runs `node` as PID 1 (no shell, no npm) as uid 10001, and is meant for a read-only root
# filesystem: it writes nothing. It has no embedded configuration to fall back on: the command needs
# `--config FILE` (the default command reads /etc/fapi-gateway/config.yaml, mounted from a ConfigMap),
# and the TLS, client-CA and signing-key files the config names are mounted from Secrets. The image
# holds no keys, no tests and no development dependencies.

# Any Debian-based Node 20 image: the official slim image by default; CI passes a local one.
ARG BASE=node:20-bookworm-slim

# --- build: compile TypeScript with the development dependencies ---
FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc \
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=warn
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- production dependencies only ---
# (Some packages publish their test fixtures: no key or certificate file belongs in the image.)
FROM ${BASE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=warn \
 && find node_modules -type f \( -name '*.pem' -o -name '*.key' -o -name '*.crt' -o -name '*.p12' -o -name '*.pfx' \) -delete

# --- runtime ---
FROM ${BASE}
ENV NODE_ENV=production
# glibc keeps a malloc arena per thread that ever allocated (scrypt runs in libuv's pool threads,
# 16 MiB per hash): two arenas keep RSS after a burst of logins near its floor.
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
# Everything is owned by root and read-only for the gateway's user.
COPY package.json ./
COPY profiles ./profiles
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# A numeric user, so Kubernetes can verify runAsNonRoot without a passwd entry.
USER 10001:10001
# public (TLS), mtls (mutual TLS), ops (plain HTTP: /healthz, /readyz, /metrics)
EXPOSE 8443 8444 9090
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js", "--config", "/etc/fapi-gateway/config.yaml"]
