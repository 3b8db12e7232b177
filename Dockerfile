# Builds vsnat on Debian 12 with the same install script CI and newcomers use.
FROM debian:12
WORKDIR /src/vsnat
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN meson setup /build -Dwerror=true && ninja -C /build && meson test -C /build --suite unit
