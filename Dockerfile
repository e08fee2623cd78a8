# Sluice: one image for every mode (sidecar, activator, autoscaler, up).
# Stage 1 compiles the TypeScript to dist/ (`npm run build`); stage 2 installs production
# dependencies only; the runtime stage is node:24-slim as a non-root user with dist/, bin/ and
# those dependencies: no src/, no compiler. Running compiled JS instead of type-stripped sources
# saves ~25 MB of memory per process (measured: sidecar idle RSS 117 -> 89 MB).

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the pinned `node` dev dependency is not needed, the base image is Node 24.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
RUN ln -s /app/bin/sluice /usr/local/bin/sluice
# The image's unprivileged `node` user, by number: Knative runs both containers with
# runAsNonRoot and no runAsUser, and the kubelet refuses an image whose USER is a name
# ("image has non-numeric user, cannot verify user is non-root").
USER 1000:1000
# serving, admin (drain), metrics: Knative's queue-proxy ports
EXPOSE 8012 8022 9090
ENTRYPOINT ["sluice"]
CMD ["sidecar"]
