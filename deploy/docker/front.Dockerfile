# The HTTP/2 TLS front of the compose deployment: nginx from Debian bookworm, as a non-root user,
# in front of the gateways (libmicrohttpd speaks HTTP/1.1, and browsers open at most 6 HTTP/1.1
# connections per origin; over HTTP/2 every EventSource of a page shares one connection).
# The image also carries flovyn-make-certs (openssl), which compose runs once as the `certs`
# service. Build context: deploy/docker.
FROM debian:bookworm-slim
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends nginx openssl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 flovyn \
 && useradd --system --uid 10001 --gid flovyn --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin flovyn
COPY nginx.conf /etc/nginx/nginx.conf
COPY make-certs.sh /usr/local/bin/flovyn-make-certs
COPY wait-ready.sh /usr/local/bin/flovyn-wait-ready
USER 10001:10001
EXPOSE 8443
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
