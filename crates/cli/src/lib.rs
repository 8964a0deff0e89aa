//! Library half of the `veil` CLI.
