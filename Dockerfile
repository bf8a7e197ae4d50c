# One image, the role chosen by the command: `ingest run` (pollers) or `ingest consume` (consumers).
# The complete image (healthcheck, hardening, CDK wiring) is the "ship it" issue; this is the base.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
COPY fixtures ./fixtures
# The SQL the query engines run, and the PySpark job scripts (uploaded to Glue as assets in AWS).
COPY src/glue/queries ./src/glue/queries
COPY src/glue/jobs ./src/glue/jobs
USER node
EXPOSE 9464 9465
ENTRYPOINT ["/usr/bin/env", "node", "dist/cli.js"]
CMD ["--help"]
