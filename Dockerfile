# Production image of an fdn node on Node 24 (type stripping runs the TypeScript sources directly).
FROM node:24-bookworm-slim

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY protocol ./protocol
COPY node ./node
COPY gateway ./gateway
COPY bootstrap.json ./

RUN mkdir -p /data && chown node:node /data
USER node

ENV FDN_DATA=/data \
    FDN_HTTP_LISTEN=0.0.0.0:8080 \
    FDN_ADMIN_LISTEN=127.0.0.1:8081 \
    NODE_ENV=production
VOLUME ["/data"]
# 8080: public gateway and APIs. 4001: libp2p swarm.
EXPOSE 8080 4001

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "bin/fdn.ts"]
CMD ["start"]
