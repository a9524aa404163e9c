FROM a
ENV onlykey
