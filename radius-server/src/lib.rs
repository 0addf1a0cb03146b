//! Sitebox's RADIUS server (RFC 2865/2866/5176). Protocol code is sans-IO; the UDP layer is thin.
//! Policy comes in through a trait the daemon implements: this crate knows no SQLite.
