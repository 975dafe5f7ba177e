# The zkd image: the static binary (CGO_ENABLED=0) and nothing else, FROM
# scratch. docker/build-images.sh builds the binary and prepares the build
# context this file expects (zkd, data/, and ca-certificates.crt for
# tracing to an https OTLP collector); build with `make images`, not
# directly from the repository root.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY zkd /usr/local/bin/zkd
# The data directory, owned by the unprivileged user zkd runs as, so that a
# named volume mounted there starts out writable for it.
COPY --chown=65532:65532 data /data
USER 65532:65532
VOLUME ["/data"]
# 2181 clients, 8080 HTTP (/metrics, /commands), 2888 quorum, 3888 election.
EXPOSE 2181 8080 2888 3888
# No shell in the image: the binary probes its own client port with srvr.
HEALTHCHECK --interval=5s --timeout=4s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/zkd", "healthcheck", "127.0.0.1:2181"]
ENTRYPOINT ["/usr/local/bin/zkd"]
CMD ["server", "/conf/zoo.cfg"]
