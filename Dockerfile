# Sluice: one Dockerfile, one image per mode (issue 12: each image carries only what its mode loads).
#   docker build --target sidecar   -t <registry>/sluice-sidecar:<tag> .     # Knative's queue-proxy (the default target)
#   docker build --target activator -t <registry>/sluice-activator:<tag> .   # activator (also autoscaler, up)
# Stage `build` compiles the TypeScript to dist/ (`npm run build`, which also bundles the sidecar
# mode into dist/cli/sidecar.js + lazy chunks: scripts/build.mjs); `deps` installs the production
# dependencies both targets use; the runtime stages are node:24-slim as a non-root user with dist/, bin/ and
# those dependencies: no src/, no compiler. The image form starts in 62.9 ms and idles at 52.3 MB where
# the checkout form (type-stripped src/) takes 74.5 ms and 61.8 MB with a warm compile cache, 207.4 ms and
# 87.4 MB without one (loadtest/results/cold-2026-12-06T16-49-54.md).

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the pinned `node` dev dependency is not needed, the base image is Node 24.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

# Production dependencies, the same for both targets: the packages each mode may load on a path
# its configuration turns on (undici, http-proxy-3, ws, yaml, pino, hdr-histogram-js), ~7 MB. Not
# OpenTelemetry (@opentelemetry/*, and with them @grpc/grpc-js, protobufjs: 74 of the 94 MB): the
# build bundles it into lazy chunks, the sidecar's beside its bundle and the other modes' in
# dist/telemetry/ (scripts/build.mjs; test/cli/build-telemetry.test.ts runs both forms without it).
# The Kubernetes client is Sluice's own (src/activator/sources/kube-*.ts), no package (issue 12).
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm uninstall $(node -p "Object.keys(require('./package.json').dependencies).filter((n) => n.startsWith('@opentelemetry/')).join(' ')") --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# The idle reclaimer's malloc_trim addon (src/native/malloc-trim.c, issue 13; docs/reliability.md):
# after a burst, once the proxy is idle, glibc gives back the free pages of its heap that the GC
# leaves behind (the aborts scenario: RSS back below idle instead of +17%). Compiled where a C
# compiler and Node's N-API header are (the full node:24 image: same Debian, same glibc as
# node:24-slim); only the built file is copied on. N-API is ABI-stable across Node versions.
FROM node:24 AS native
WORKDIR /app
COPY scripts/build-native.mjs ./scripts/
COPY src/native ./src/native
RUN node scripts/build-native.mjs /app/build/native

FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY --from=native /app/build/native/malloc-trim.node ./native/malloc-trim.node
# Both modes load it at their first idle reclaim (--idle-reclaim-seconds), not at start.
ENV SLUICE_MALLOC_TRIM_ADDON=/app/native/malloc-trim.node
# `sluice` runs bin/image-entry.sh: node with $SLUICE_NODE_FLAGS (set per target), then bin/sluice.
RUN ln -s /app/bin/image-entry.sh /usr/local/bin/sluice && mkdir /app/.compile-cache && chown 1000:1000 /app/.compile-cache
# Node's compile cache (bin/sluice enables it): each target warms it below for its mode's modules, as
# the user and with the V8 flags it runs with (the cache is only valid for those), so the first start
# in every pod reads code cache instead of parsing (issue 12). Read-only at run time is fine: a module
# missing from it is compiled as usual.
ENV NODE_COMPILE_CACHE=/app/.compile-cache
# The image's unprivileged `node` user, by number: Knative runs both containers with
# runAsNonRoot and no runAsUser, and the kubelet refuses an image whose USER is a name
# ("image has non-numeric user, cannot verify user is non-root").
USER 1000:1000

FROM runtime AS activator
COPY --from=deps /app/node_modules ./node_modules
# The sidecar's V8 flags (below), measured on the activator under wrk -t1 -c50 at CC=10 (issue 12;
# loadtest/results/memory-findings-2026-12-06.md): the young generation grew to 16-32 MB per
# semi-space and TurboFan's concurrent jobs kept their zone memory in worker arenas; peak RSS
# 102 -> 70 MB, CPU per request 19.0 -> 18.8 us, in a same-run A/B.
# --no-sparkplug, as Knative runs the activator (--source kubernetes, stats websocket): idle RSS
#   -0.3/-0.4 MB, peak -0.7 MB (75.7 vs 76.4, 75.9 vs 76.6), CPU per request the same (21.4 vs 21.4,
#   22.2 vs 21.8 us) in two same-run A/Bs of 4 and 6 rounds; with --source api peak -0.4/-0.6 MB, idle
#   within 0.2 MB (loadtest/results/activator-footprint-2026-12-06T17-03-45.md, -17-08-10.md).
ENV SLUICE_NODE_FLAGS="--max-semi-space-size=1 --no-concurrent-recompilation --no-sparkplug"
USER 1000:1000
# `--help` loads the mode's whole static module graph (cli/activator.ts imports it) and exits.
RUN sluice activator --help > /dev/null
# serving (HTTP/1.1 + h2c), h2c (Knative's 8013), admin (revisions API, loopback), metrics
EXPOSE 8012 8013 8022 9090
ENTRYPOINT ["sluice"]
CMD ["activator"]

# Last, so a plain `docker build .` builds the sidecar, as before.
FROM runtime AS sidecar
COPY --from=deps /app/node_modules ./node_modules
# The sidecar's V8 flags (issue 12; loadtest/results/cold-findings-2026-12-06.md), each measured under
# wrk -t1 -c50 at CC=10 with no loss of req/s:
# --max-semi-space-size=1: the young generation stays at 1 MB per semi-space (default: grows to 16):
#   peak RSS -17 MB. Per-request garbage is small and short-lived: more scavenges, each cheap.
# --no-concurrent-recompilation: TurboFan compiles on the main thread. Concurrent jobs run on V8's
#   worker threads, whose malloc arenas keep the compiler's zone memory after the burst of
#   optimisation when load starts: peak RSS 71-85 -> 65 MB. NODE_OPTIONS refuses this flag, hence
#   bin/image-entry.sh.
# --no-sparkplug: no baseline-compiled tier between the interpreter and Maglev: idle RSS -0.4 MB, peak
#   -0.6 MB (62.8 vs 63.4), CPU per request the same under wrk (19.3 vs 20.1 us, 6 rounds) and at 100
#   req/s (393 vs 386 us, 3 rounds); start-up +5 ms (60.4 vs 55.3 ms, 12 rounds), within the 40 ms over
#   Node's floor (loadtest/results/memory-findings-2026-12-06b.md).
ENV SLUICE_NODE_FLAGS="--max-semi-space-size=1 --no-concurrent-recompilation --no-sparkplug"
USER 1000:1000
RUN sluice sidecar --help > /dev/null
# serving, admin (drain), metrics: Knative's queue-proxy ports
EXPOSE 8012 8022 9090
ENTRYPOINT ["sluice"]
CMD ["sidecar"]
