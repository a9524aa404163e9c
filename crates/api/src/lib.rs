//! Docker Engine API server.
