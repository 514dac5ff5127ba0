# Skillport server image. Build: docker build -t skillport .   (docker-compose.yml builds it too)
# The image installs the package tarball exactly as a user would (`npm pack`, then `npm install -g`), the same
# steps test/ops/package.test.ts runs on every test run.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Scripts are skipped here (the prepare script needs the sources); the build runs below.
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build && mkdir /pkg && npm pack --ignore-scripts --pack-destination /pkg

FROM node:20-bookworm-slim
# bubblewrap: the strict sandbox for skill scripts; python3 and bash: the interpreters skills use; tini: reaps
# orphaned processes and forwards signals.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap python3 bash ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /pkg /pkg
RUN npm install -g --no-audit --no-fund /pkg/skillport-*.tgz && rm -rf /pkg /root/.npm
ENV HOST=0.0.0.0 PORT=8123 DATA_DIR=/data NODE_ENV=production
VOLUME /data
WORKDIR /data
EXPOSE 8123
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/ready').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["skillport", "serve"]
