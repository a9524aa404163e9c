# escape=`

FROM busybox
RUN echo C:\windows `
    && echo two
COPY ["a b", "c\\d", "/dst/"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered
MAINTAINER someone <a@b.c>
HEALTHCHECK NONE
ENV legacy value with spaces
ARG A=1 B
