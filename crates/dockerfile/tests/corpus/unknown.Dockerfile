FROM busybox
RUN true
FROOM x
