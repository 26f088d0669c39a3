# syntax=docker/dockerfile:1
# fapi-gateway container image.
#
#   docker build -t fapi-gateway --secret id=npmrc,src=$HOME/.npmrc \
#     --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) --build-arg CREATED=$(date -u +%FT%TZ) .
#   buildah build --secret id=npmrc,src=$HOME/.npmrc --build-arg BASE=localhost/node20-base -t fapi-gateway .
#   docker build --target sbom --output type=local,dest=sbom .     # the SBOM alone (CycloneDX JSON)
#
# npm registry settings (registry, auth token, CA) reach the build only as the `npmrc` build secret,
# mounted for the `npm ci` steps and never written into a layer. Without the secret npm uses its
# defaults (the public registry).
#
# The runtime image is built from scratch: the `node` binary, the shared libraries it links against,
# the application, and nothing else: no shell, no npm, no package manager, no distribution files to
# patch. `node` runs as PID 1 as uid 10001, and the image is meant for a read-only root filesystem: it
# writes nothing. It has no embedded configuration to fall back on: the command needs `--config FILE`
# (the default command reads /etc/fapi-gateway/config.yaml, mounted from a ConfigMap), and the TLS,
# client-CA and signing-key files the config names are mounted from Secrets. The image holds no keys,
# no tests and no development dependencies; its SBOM is at /app/sbom.cdx.json.

# Any Debian-based Node image (glibc): a maintained LTS, the official slim image by default; CI passes a local one.
ARG BASE=node:24-trixie-slim

# --- build: compile TypeScript with the development dependencies ---
FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc \
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=warn
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- production dependencies only, and their bill of materials ---
# (Some packages publish their test fixtures: no key or certificate file belongs in the image.)
# The SBOM is npm's, of the installed tree (`npm sbom --omit=dev` would still ask for the development
# packages, and from the lockfile alone it leaves out those that development packages share).
FROM ${BASE} AS deps
WORKDIR /fapi-gateway
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=warn \
 && find node_modules -type f \( -name '*.pem' -o -name '*.key' -o -name '*.crt' -o -name '*.p12' -o -name '*.pfx' \) -delete \
 && npm pkg delete devDependencies \
 && npm sbom --sbom-format cyclonedx --sbom-type application > /sbom.cdx.json

# --- the SBOM alone: docker build --target sbom --output type=local,dest=sbom . ---
FROM scratch AS sbom
COPY --from=deps /sbom.cdx.json /fapi-gateway.cdx.json

# --- the runtime's root filesystem: node and the libraries it loads, found by ldd ---
FROM ${BASE} AS rootfs
RUN set -eu; \
    node="$(command -v node)"; \
    mkdir -p /rootfs/usr/local/bin /rootfs/etc /rootfs/tmp /rootfs/proc /rootfs/sys /rootfs/dev /rootfs/run /rootfs/app; \
    cp "$node" /rootfs/usr/local/bin/node; \
    for lib in $(ldd "$node" | grep -o '/[^ ]*'); do \
      mkdir -p "/rootfs$(dirname "$lib")"; \
      cp -L "$lib" "/rootfs$lib"; \
    done; \
    if [ -f /etc/ld.so.cache ]; then cp /etc/ld.so.cache /rootfs/etc/; fi; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nfapi-gateway:x:10001:10001:fapi-gateway:/nonexistent:/sbin/nologin\n' > /rootfs/etc/passwd; \
    printf 'root:x:0:\nfapi-gateway:x:10001:\n' > /rootfs/etc/group; \
    chmod 1777 /rootfs/tmp; \
    /rootfs/usr/local/bin/node --version

# --- runtime ---
FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/fapi-gateway/fapi-gateway
# OCI image annotations (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
LABEL org.opencontainers.image.title="fapi-gateway" \
      org.opencontainers.image.description="Financial-grade open-banking gateway: a FAPI 2.0 authorization server and resource front door" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.documentation="${SOURCE}/blob/main/README.md" \
      org.opencontainers.image.base.name="scratch"
COPY --from=rootfs /rootfs/ /
ENV PATH=/usr/local/bin
ENV NODE_ENV=production
# glibc keeps a malloc arena per thread that ever allocated (scrypt runs in libuv's pool threads,
# 16 MiB per hash) and holds the memory it freed there: one arena, shared, keeps RSS near its floor, idle
# and after a burst of logins, at no measurable cost in CPU or latency (docs/operations.md, Memory).
ENV MALLOC_ARENA_MAX=1
# A fixed mmap threshold (glibc's initial 128 KiB) gives each scrypt's 16 MiB a mapping of its own,
# returned when the hash ends; glibc would otherwise raise the threshold after the first hash and keep
# the freed blocks in its arenas (RSS about +60 MB after a few hundred logins, docs/operations.md).
# hugetlb=1 maps them with transparent huge pages where the kernel allows (madvise): far fewer page
# faults per hash.
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072:glibc.malloc.hugetlb=1
WORKDIR /app
# Everything is owned by root and read-only for the gateway's user.
COPY package.json ./
COPY profiles ./profiles
COPY --from=deps /fapi-gateway/node_modules ./node_modules
COPY --from=deps /sbom.cdx.json ./sbom.cdx.json
COPY --from=build /src/dist ./dist
# A numeric user, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# public (TLS), mtls (mutual TLS), ops (plain HTTP: /healthz, /readyz, /metrics)
EXPOSE 8443 8444 9090
STOPSIGNAL SIGTERM
# --max-semi-space-size=8: the young generation fixed at 2 × 8 MB whatever memory the node has;
# --single-threaded-gc: V8 collects on the event loop's thread, with no helper threads competing for
# the pod's CPU (docs/operations.md, Memory and CPU).
CMD ["node", "--max-semi-space-size=8", "--single-threaded-gc", "dist/main.js", "--config", "/etc/fapi-gateway/config.yaml"]
