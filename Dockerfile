# The image docker-compose.yml runs (docs/deploy.md): `vizserver serve` with the built web client, and
# `vizserver worker`. Not used by the tests.

FROM node:20-bookworm-slim AS client
WORKDIR /src/webxr_client
COPY webxr_client/package.json webxr_client/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY webxr_client/ ./
RUN npm run build                     # writes /src/vizserver/static

FROM python:3.11-slim-bookworm
# VTK's GL libraries, open3d's libgomp/libusb (as .ci/run installs them)
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libegl1 libxrender1 libgomp1 libusb-1.0-0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY vizserver/ vizserver/
COPY scenes/ scenes/
COPY assets/ assets/
# editable: the package finds its scenes/, assets/ and static/ beside it, as in a checkout
RUN pip install --no-cache-dir -e .
COPY --from=client /src/vizserver/static/ vizserver/static/
RUN useradd --create-home vizserver && mkdir /cache && chown vizserver /cache
USER vizserver
ENV VIZSERVER_CACHE_DIR=/cache
EXPOSE 8000
CMD ["vizserver", "serve", "/app/scenes/default.yaml", "--host", "0.0.0.0", "--port", "8000"]
