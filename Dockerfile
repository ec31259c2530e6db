# The Quanzi image: API (default command), worker (`quanzi worker`) and migrations
# (`quanzi migrate`) all run from it.
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

# Run from an empty directory owned by the user, away from the sources.
WORKDIR /home/quanzi
USER quanzi

EXPOSE 8000
CMD ["quanzi", "serve", "--host", "0.0.0.0"]
