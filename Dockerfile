# bindery serve in a container. Build: docker build -t bindery .
# Run:  docker run -p 6789:6789 -v /srv/bindery:/srv/bindery:ro -v /etc/bindery:/etc/bindery:ro \
#         -v bindery-state:/var/lib/bindery bindery --build /srv/bindery/out --repo /srv/bindery/repo \
#         --tls-cert /etc/bindery/server.crt --tls-key /etc/bindery/server.key --ca /etc/bindery/ca
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY bin bin
COPY src src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/bin bin
COPY --from=build /src/dist dist
RUN useradd --system --home-dir /var/lib/bindery bindery && install -d -o bindery -g bindery /var/lib/bindery
USER bindery
EXPOSE 6789
ENTRYPOINT ["node", "/app/bin/bindery.js", "serve", "--listen", "0.0.0.0:6789", "--state", "/var/lib/bindery"]
