# nats-server from Debian bookworm, run as a non-root user, with the cluster configuration
# deploy/docker/nats.conf (one file for every node; names and routes come from the environment).
# Certificates are read from /flovyn/tls, the JetStream store lives in /data.
# Build context: deploy/docker.
FROM debian:bookworm-slim
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends nats-server \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 flovyn \
 && useradd --system --uid 10001 --gid flovyn --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin flovyn \
 && mkdir -p /data /etc/nats && chown flovyn:flovyn /data
COPY nats.conf /etc/nats/nats.conf
COPY wait-ready.sh /usr/local/bin/flovyn-wait-ready
USER 10001:10001
VOLUME /data
# client, cluster routes, monitoring
EXPOSE 4222 6222 8222
STOPSIGNAL SIGTERM
CMD ["nats-server", "-c", "/etc/nats/nats.conf"]
