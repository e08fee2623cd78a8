# Sluice: one image for every mode (sidecar, activator, autoscaler, up).
# Node 24 runs the TypeScript sources directly (type stripping), so there is no build stage:
# stage 1 installs production dependencies only, stage 2 is the slim runtime as a non-root user.

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev drops tap, typescript and the pinned `node` package (the base image is Node 24).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
RUN ln -s /app/bin/sluice /usr/local/bin/sluice
# The image's unprivileged `node` user (uid 1000).
USER node
# serving, admin (drain), metrics: Knative's queue-proxy ports
EXPOSE 8012 8022 9090
ENTRYPOINT ["sluice"]
CMD ["sidecar"]
