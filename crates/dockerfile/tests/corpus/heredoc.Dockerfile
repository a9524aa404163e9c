FROM busybox
RUN <<EOF
echo one
echo two
EOF
RUN cat <<'END' > /x && cat /x
literal $HOME
END
COPY <<-EOT /etc/motd
	hello $USER
	EOT
RUN <<A <<B
a
A
b
B
