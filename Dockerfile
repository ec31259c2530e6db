# The Quanzi image: API (default command), worker (`quanzi worker`) and migrations
# (`quanzi migrate`) all run from it.

# The console and the GraphQL IDE: npm packages from the lock, built by Vite.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 quanzi \
    && useradd --system --uid 10001 --gid quanzi --create-home --home-dir /home/quanzi quanzi

WORKDIR /src
COPY . .
RUN pip install . \
    && rm -rf /src/build /src/*.egg-info
COPY --from=web /web/dist /srv/quanzi-web
ENV QUANZI_WEB_DIR=/srv/quanzi-web

# Run from an empty directory owned by the user, away from the sources.
WORKDIR /home/quanzi
USER quanzi

EXPOSE 8000
CMD ["quanzi", "serve", "--host", "0.0.0.0"]
