FROM a AS one
FROM b AS one
