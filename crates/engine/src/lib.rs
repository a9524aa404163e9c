//! The container engine: container objects, their on-disk state and lifecycle.
