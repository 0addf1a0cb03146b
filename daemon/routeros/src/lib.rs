//! The MikroTik RouterOS API (TCP 8728, API-SSL 8729): a sans-IO word/sentence codec, an async
//! client, and a stateful simulator that behaves like a router for tests and the dev config.
