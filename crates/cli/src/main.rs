//! The `veil` command-line tool (work in progress in this commit).
fn main() {}
