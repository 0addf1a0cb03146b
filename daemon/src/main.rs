//! `siteboxd`: the Sitebox site daemon and its command line.
fn main() {}
