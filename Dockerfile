# Skillport server image. Build: docker build -t skillport .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts are skipped here (the prepare script needs the sources); the build runs below.
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# bubblewrap: the strict sandbox for skill scripts; python3 and bash: the interpreters skills use.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap python3 bash ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/web/dist ./web/dist
ENV HOST=0.0.0.0 PORT=8123 DATA_DIR=/data NODE_ENV=production
VOLUME /data
EXPOSE 8123
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/health').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "bin/skillport.js", "serve"]
