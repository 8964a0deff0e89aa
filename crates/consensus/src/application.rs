//! Proposing, verifying and finalizing blocks (in progress).
