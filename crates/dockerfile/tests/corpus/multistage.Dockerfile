ARG BASE=busybox
ARG TAG
FROM ${BASE}:${TAG:-latest} AS build
ARG TAG
RUN echo $TAG > /tag
FROM --platform=linux/amd64 busybox as Test
COPY --from=build /tag /tag
FROM scratch
COPY --from=build /tag /
COPY --from=test /tag /t2
