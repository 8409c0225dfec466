# presence-sync container images, all from Debian 12 packages.
#
#   docker build --target runtime   -t presence-sync .     the daemon (default target)
#   docker build --target mosquitto -t ps-mosquitto .      mosquitto 2.0.11 for broker-config/
#   docker build --target fakes     -t ps-fakes .          fake-graph and fake-voice (demo)
#
# docker-compose.yml builds all three. tests/integration/test_compose.sh checks
# that every COPY source exists and that the runtime stage lists the packages
# of every shared library the binaries need.

# ---- build: compilers and -dev packages; never shipped ---------------------------
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libpaho-mqtt-dev libcurl4-openssl-dev libcjson-dev libssl-dev \
        libwebsockets-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY connector/ connector/
COPY schemas/ schemas/
COPY tests/ tests/
# tests/ is needed for the simulators (tests/fakes); the daemon itself is
# built without test code.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPS_BUILD_TESTS=ON \
 && cmake --build /build -j"$(nproc)" --target presence-sync fake-graph fake-voice \
 && install -D -s -m 0755 /build/connector/presence-sync /out/bin/presence-sync \
 && install -D -s -m 0755 /build/tests/fakes/graph/fake-graph /out/fakes/fake-graph \
 && install -D -s -m 0755 /build/tests/fakes/voice/fake-voice /out/fakes/fake-voice \
 && /out/bin/presence-sync --version

# ---- runtime-base: only the shared libraries, one unprivileged user -----------
FROM debian:bookworm-slim AS runtime-base
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libpaho-mqtt1.3 libcurl4 libcjson1 libssl3 libwebsockets17 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 presence-sync \
 && useradd --system --uid 10001 --gid presence-sync --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin presence-sync

# ---- fakes: the Graph and Voice simulators for the demo profile ---------------
FROM runtime-base AS fakes
COPY --from=build /out/fakes/ /usr/local/bin/
USER presence-sync
CMD ["fake-graph", "--help"]

# ---- mosquitto: the Debian broker, configured from broker-config/ -------------
FROM debian:bookworm-slim AS mosquitto
# A fixed UID, so that key and password files can be chowned to it on the host.
RUN groupadd --system --gid 1883 mosquitto \
 && useradd --system --uid 1883 --gid mosquitto --home-dir /var/lib/mosquitto \
        --no-create-home --shell /usr/sbin/nologin mosquitto \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mosquitto \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o mosquitto -g mosquitto -m 0750 /var/lib/mosquitto /run/mosquitto
EXPOSE 8883
# Starts as root to read its files, then drops to the mosquitto user.
CMD ["/usr/sbin/mosquitto", "-c", "/etc/mosquitto/mosquitto.conf"]

# ---- runtime: the daemon (default target) ----------------------------------
FROM runtime-base AS runtime
COPY --from=build /out/bin/presence-sync /usr/bin/presence-sync
COPY schemas/ /usr/share/presence-sync/schemas/
COPY docs/examples/config.example.json /usr/share/doc/presence-sync/examples/
USER presence-sync
EXPOSE 8080
ENTRYPOINT ["/usr/bin/presence-sync"]
CMD ["run", "-c", "/etc/presence-sync/config.json"]
