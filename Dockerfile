# One image for all three services; the compose file picks the service with `command`.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc turbo.json tsconfig.base.json ./
COPY packages/contracts/package.json packages/contracts/
COPY packages/runtime/package.json packages/runtime/
COPY services/billing/package.json services/billing/
COPY services/gateway/package.json services/gateway/
COPY services/inference/package.json services/inference/
RUN npm ci --no-audit --no-fund
COPY packages packages
COPY services services
COPY config config
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 8080 8081 8082
CMD ["node", "services/gateway/dist/main.js"]
