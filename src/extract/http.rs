//! The http source: GET `extract.http.url_template` with `{ip}` and `{name}` substituted (with the bearer token of
//! `extract.http.token` when set); parse the stats array.

use std::time::Duration;

use super::ExtractError;
use crate::config::ExtractSettings;
use crate::inventory::Device;
use crate::model::CpuStats;
use crate::resolve::tls::ClientTls;

/// Largest stats answer read from a device.
const MAX_ANSWER_BYTES: usize = 1 << 20;

pub struct HttpSource {
    client: awc::Client,
    template: String,
    timeout: Duration,
    /// `Authorization: Bearer …` of every request, when `extract.http.token` (or its file) is set.
    authorization: Option<String>,
}

/// Percent-encodes what is not unreserved in a URL path segment or query value.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL of a device: `{ip}` and `{name}` replaced (the name percent-encoded; an IPv6 address bracketed).
pub fn device_url(template: &str, device: &Device) -> String {
    let ip = match device.ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    template
        .replace("{ip}", &ip)
        .replace("{name}", &encode(&device.name))
}

/// Parses the original's stats array; an empty array is an error (a device has at least one CPU).
pub fn parse_stats(body: &[u8]) -> Result<Vec<CpuStats>, ExtractError> {
    let stats: Vec<CpuStats> =
        serde_json::from_slice(body).map_err(|e| ExtractError::Parse(e.to_string()))?;
    if stats.is_empty() {
        return Err(ExtractError::Parse("empty array".into()));
    }
    Ok(stats)
}

impl HttpSource {
    /// `tls` is the http source's, resolved from `extract.http` (for an `https://` template).
    pub fn new(settings: &ExtractSettings, tls: &ClientTls) -> Self {
        // One connection per extraction in flight: with fewer, the wait for a connection would count against
        // the device's timeout.
        let mut connector = awc::Connector::new().limit(settings.concurrency);
        if let Some(tls) = tls.config() {
            connector = connector.rustls_0_23(tls);
        }
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(settings.timeout())
            .disable_redirects()
            .finish();
        HttpSource {
            client,
            template: settings.http.url_template.clone(),
            timeout: settings.timeout(),
            authorization: (!settings.http.token.is_empty())
                .then(|| format!("Bearer {}", settings.http.token.expose())),
        }
    }

    pub async fn extract(&self, device: &Device) -> Result<Vec<CpuStats>, ExtractError> {
        let url = device_url(&self.template, device);
        let timeout_ms = self.timeout.as_millis() as u64;
        use awc::error::SendRequestError as E;
        let mut request = self.client.get(&url);
        if let Some(authorization) = &self.authorization {
            request =
                request.insert_header((awc::http::header::AUTHORIZATION, authorization.as_str()));
        }
        let mut resp = request.send().await.map_err(|e| match e {
            E::Timeout => ExtractError::Timeout(timeout_ms),
            e @ (E::Connect(_) | E::Send(_) | E::Url(_)) => ExtractError::Connect(e.to_string()),
            // The device answered, but not HTTP that can be read.
            other => ExtractError::Parse(other.to_string()),
        })?;
        if !resp.status().is_success() {
            return Err(ExtractError::Status(resp.status().as_u16()));
        }
        let body = resp
            .body()
            .limit(MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                awc::error::PayloadError::Io(ref io)
                    if io.kind() == std::io::ErrorKind::TimedOut =>
                {
                    ExtractError::Timeout(timeout_ms)
                }
                other => ExtractError::Parse(other.to_string()),
            })?;
        parse_stats(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(ip: &str, name: &str) -> Device {
        Device {
            line: 1,
            ip: ip.parse().unwrap(),
            name: name.into(),
            via: Default::default(),
        }
    }

    #[test]
    fn substitutes_and_encodes() {
        let t = "http://127.0.0.1:9/device/{name}/cpu?ip={ip}";
        assert_eq!(
            device_url(t, &dev("127.0.0.5", "a b/c")),
            "http://127.0.0.1:9/device/a%20b%2Fc/cpu?ip=127.0.0.5"
        );
        assert_eq!(
            device_url("http://{ip}:80/", &dev("::1", "x")),
            "http://[::1]:80/"
        );
    }

    #[test]
    fn parses_the_original_shape() {
        let body = br#"[{"name":"d","timestamp":5,"cpu_number":"0","pIdle":"90","pUser":"5","pSys":"3","pIRQ":"1","pNice":"1"}]"#;
        let s = parse_stats(body).unwrap();
        assert_eq!(s[0].p_irq, "1");
        assert!(parse_stats(b"[]").is_err());
        assert!(parse_stats(b"{").is_err());
        assert!(parse_stats(br#"[{"name":"d"}]"#).is_err());
    }
}
