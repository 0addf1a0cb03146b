//! Sitebox's site daemon as a library: config, store, job queue, events and the CLI glue that
//! the `siteboxd` binary wires together.
