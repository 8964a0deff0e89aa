//! Trusted dealer (in progress).
