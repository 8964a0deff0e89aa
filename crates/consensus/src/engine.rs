//! Engine wiring (in progress).
