//! The `Authorization` header of every sink: a bearer token (`load.token`; InfluxDB's `Token` scheme for the
//! line-protocol sink, which its 2.x API and 1.8's compatibility API read), or basic authentication
//! (`load.username` and `load.password`, what InfluxDB 1.x and a proxy in front of Prometheus read).

use base64::Engine as _;

use crate::config::{Secret, SinkKind};

/// The header's value, `None` without credentials.
pub fn authorization(
    sink: SinkKind,
    token: &Secret,
    username: &str,
    password: &Secret,
) -> Option<Secret> {
    if !token.is_empty() {
        let scheme = match sink {
            SinkKind::InfluxLine => "Token",
            _ => "Bearer",
        };
        return Some(Secret::new(format!("{scheme} {}", token.expose())));
    }
    if !username.is_empty() {
        let pair = format!("{username}:{}", password.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        return Some(Secret::new(format!("Basic {encoded}")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_or_basic() {
        let none = Secret::default();
        let t = Secret::new("abc".to_string());
        let a = |k, t: &Secret, u, p: &Secret| {
            authorization(k, t, u, p).map(|s| s.expose().to_string())
        };
        assert_eq!(
            a(SinkKind::IngestJson, &t, "", &none).as_deref(),
            Some("Bearer abc")
        );
        assert_eq!(
            a(SinkKind::PrometheusRemoteWrite, &t, "", &none).as_deref(),
            Some("Bearer abc")
        );
        assert_eq!(
            a(SinkKind::InfluxLine, &t, "", &none).as_deref(),
            Some("Token abc")
        );
        // RFC 7617's example.
        let p = Secret::new("open sesame".to_string());
        assert_eq!(
            a(SinkKind::InfluxLine, &none, "Aladdin", &p).as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        assert_eq!(a(SinkKind::IngestJson, &none, "", &none), None);
    }
}
