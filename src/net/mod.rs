//! TLS for the HTTP clients (load and http source) and the mock's server, built from configuration values.

pub mod tls;
