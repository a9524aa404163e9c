FROM busybox
HEALTHCHECK --interval=1x CMD true
