# syntax=docker/dockerfile:1
FROM busybox
LABEL maintainer="me" version=1.0
ENV PATH=/usr/local/bin:$PATH \
    HOME=/root
WORKDIR /app
COPY --chown=1000:1000 --chmod=0644 a.txt b.txt ./
ADD archive.tar /opt/
RUN echo hello \
 && echo world
EXPOSE 80/tcp 443
VOLUME ["/data"]
USER app
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s CMD wget -q localhost || exit 1
ENTRYPOINT ["/bin/sh", "-c"]
CMD echo done
