//! Values that go on the wire, parsed fully at validation so that a typo is a configuration error naming its key
//! (exit 2) instead of a run that counts connect retries, opens the circuit and spools everything: URLs
//! (`load.endpoint`, `extract.http.url_template` with its placeholders), listen addresses (`mock.bind`,
//! `metrics.addr`) and bearer tokens as HTTP header values (`load.token`, `mock.token`, the file of
//! `load.token_file`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::SettingsError;

/// The placeholders `extract.http.url_template` may hold, with the sample values it is checked with.
pub const URL_TEMPLATE_PLACEHOLDERS: [(&str, &str); 2] =
    [("{name}", "device-1"), ("{ip}", "127.0.0.1")];

/// Why a URL cannot be used; `Display` says what is wrong with it (without the key, which the caller adds).
pub fn url_problem(url: &str) -> Option<String> {
    if let Some((at, c)) = url
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        return Some(format!(
            "`{}` holds {} at byte {at}",
            url.escape_debug(),
            describe(c)
        ));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Some(format!("`{url}` must be an http:// or https:// URL"));
    }
    let uri = match url.parse::<awc::http::Uri>() {
        Ok(u) => u,
        Err(e) => return Some(format!("`{url}` is not a valid URL: {e}")),
    };
    let Some(authority) = uri.authority() else {
        return Some(format!("`{url}` has no host"));
    };
    if authority.as_str().contains('@') {
        // Credentials in the URL are never sent (the API's token goes in `load.token` or `load.token_file`), and
        // the message must not echo them.
        let masked = url.replacen(authority.as_str(), &format!("***@{}", authority.host()), 1);
        return Some(format!(
            "`{masked}` holds credentials (user:password@), which are never sent: remove them; the API's bearer token goes in load.token or load.token_file"
        ));
    }
    let host_port = authority.as_str();
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return Some(format!("`{url}`: unclosed `[` in the host"));
        };
        if inner.parse::<Ipv6Addr>().is_err() {
            return Some(format!("`{url}`: `[{inner}]` is not an IPv6 address"));
        }
        match after {
            "" => (inner, None),
            p => match p.strip_prefix(':') {
                Some(port) => (inner, Some(port)),
                None => return Some(format!("`{url}`: `{after}` after the IPv6 address")),
            },
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Some(format!("`{url}` has no host"));
    }
    if !host_port.starts_with('[') {
        if let Some(c) = host
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            return Some(format!("`{url}`: `{c}` cannot be in a host name"));
        }
        if host.chars().all(|c| c.is_ascii_digit() || c == '.') && host.parse::<Ipv4Addr>().is_err()
        {
            return Some(format!("`{url}`: `{host}` is not an IPv4 address"));
        }
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(0) => return Some(format!("`{url}`: port 0 cannot be connected to")),
            Ok(_) => {}
            Err(_) => {
                return Some(format!(
                    "`{url}`: port `{port}` is not a number from 1 to 65535"
                ))
            }
        }
    }
    None
}

/// `url` is an http(s) URL a client can connect to: no whitespace or control character, a host that is a name or
/// an IP address, a port from 1 to 65535.
pub fn check_url(key: &str, url: &str) -> Result<(), SettingsError> {
    match url_problem(url) {
        Some(problem) => Err(SettingsError::invalid(key, problem)),
        None => Ok(()),
    }
}

/// `extract.http.url_template`: holds `{name}` or `{ip}`, no other `{…}`, and is a valid URL once they are
/// substituted.
pub fn check_url_template(key: &str, template: &str) -> Result<(), SettingsError> {
    let mut rest = template;
    let mut found = false;
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let Some(close) = after.find('}') else {
            return Err(SettingsError::invalid(
                key,
                format!("`{template}`: `{{` without a closing `}}`"),
            ));
        };
        let placeholder = &after[..=close];
        if !URL_TEMPLATE_PLACEHOLDERS
            .iter()
            .any(|(p, _)| *p == placeholder)
        {
            return Err(SettingsError::invalid(
                key,
                format!(
                    "`{template}`: unknown placeholder `{placeholder}` (allowed: {{name}}, {{ip}})"
                ),
            ));
        }
        found = true;
        rest = &after[close + 1..];
    }
    if !found {
        return Err(SettingsError::invalid(key, "must contain {name} or {ip}"));
    }
    let sample = URL_TEMPLATE_PLACEHOLDERS
        .iter()
        .fold(template.to_string(), |t, (p, v)| t.replace(p, v));
    match url_problem(&sample) {
        Some(problem) => Err(SettingsError::invalid(
            key,
            format!("{problem} (with {{name}} = device-1, {{ip}} = 127.0.0.1)"),
        )),
        None => Ok(()),
    }
}

/// A listen address `address:port` (port 0 picks a free one).
pub fn check_listen_addr(key: &str, addr: &str, example: &str) -> Result<(), SettingsError> {
    addr.parse::<SocketAddr>().map(|_| ()).map_err(|_| {
        SettingsError::invalid(
            key,
            format!(
                "`{}` is not an address:port like {example}",
                addr.escape_debug()
            ),
        )
    })
}

/// Why `token` cannot be sent as `Authorization: Bearer <token>`, without showing the token.
pub fn token_problem(token: &str) -> Option<String> {
    let header = format!("Bearer {token}");
    if awc::http::header::HeaderValue::from_str(&header).is_ok() {
        return None;
    }
    let (at, c) = token
        .char_indices()
        .find(|(_, c)| c.is_ascii_control() && *c != '\t')
        .expect("a header value is refused only for an ASCII control character other than tab");
    Some(format!(
        "holds {} at byte {at}, which an HTTP header value cannot carry",
        describe(c)
    ))
}

/// A bearer token that an HTTP header can carry: no ASCII control character but tab (bytes past ASCII pass as
/// HTTP's obs-text, as the client sends them).
pub fn check_token(key: &str, token: &str) -> Result<(), SettingsError> {
    match token_problem(token) {
        Some(problem) => Err(SettingsError::invalid(key, problem)),
        None => Ok(()),
    }
}

/// A character named for an error message.
fn describe(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c if c.is_whitespace() => format!("the white space U+{:04X}", c as u32),
        c => format!("the non-ASCII character U+{:04X}", c as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_a_client_can_connect_to_pass() {
        for url in [
            "http://127.0.0.1:8080/load",
            "https://ingest.example/load",
            "http://[::1]:8080/load",
            "http://[::1]/load",
            "http://a_b.c:65535/",
            "http://127.0.0.1/",
        ] {
            assert_eq!(url_problem(url), None, "{url}");
        }
    }

    #[test]
    fn urls_from_the_issue_and_their_kin_are_refused_saying_why() {
        for (url, why) in [
            ("http://127.0.0.1 :8080/load", "a space at byte 16"),
            ("http://[::1", "not a valid URL"),
            ("http://127.0.0.1:99999/load", "port `99999`"),
            ("http://127.0.0.1:0/load", "port 0"),
            ("http:///load", "not a valid URL"),
            ("http://127.0.0.1:8080/lo\nad", "a newline"),
            ("http://127.0.0.1:/load", "port ``"),
            ("http://h:8x/", "port `8x`"),
            ("http://127.0.0.300/", "not an IPv4 address"),
            ("http://[::g]/", "not an IPv6 address"),
            ("http://[::1]x/", "after the IPv6 address"),
            ("ftp://127.0.0.1/", "http:// or https://"),
            ("http://h\u{7f}/", "U+007F"),
            ("http://user@localhost:1/x?y=z", "holds credentials"),
            ("https://u:p4ssw0rd@127.0.0.1:8443/load", "load.token_file"),
        ] {
            let problem = url_problem(url).unwrap_or_else(|| panic!("{url:?} passed"));
            assert!(problem.contains(why), "{url:?}: {problem}");
            assert!(!problem.contains("p4ssw0rd"), "{problem}");
        }
    }

    #[test]
    fn the_url_template_holds_known_placeholders_and_is_a_url_once_filled() {
        let ok = [
            "http://127.0.0.1:8080/device/{name}/cpu?cpus=1",
            "http://{ip}:8080/cpu",
        ];
        for t in ok {
            check_url_template("k", t).unwrap();
        }
        for (t, why) in [
            (
                "http://127.0.0.1:8080/device/cpu",
                "must contain {name} or {ip}",
            ),
            (
                "http://127.0.0.1:8080/device/{nmae}/cpu",
                "unknown placeholder `{nmae}`",
            ),
            (
                "http://127.0.0.1:8080/device/{name/cpu",
                "without a closing",
            ),
            ("http://127.0.0.1:99999/device/{name}", "port `99999`"),
            ("http://{ip}:0/{name}", "port 0"),
        ] {
            let e = check_url_template("extract.http.url_template", t).unwrap_err();
            let text = e.to_string();
            assert!(text.contains("extract.http.url_template"), "{text}");
            assert!(text.contains(why), "{t}: {text}");
        }
    }

    #[test]
    fn listen_addresses_parse_as_address_and_port() {
        check_listen_addr("mock.bind", "127.0.0.1:0", "x").unwrap();
        check_listen_addr("mock.bind", "[::1]:8080", "x").unwrap();
        for bad in [
            "127.0.0.1:99999",
            "127.0.0.1 :9898",
            "localhost:80",
            "127.0.0.1",
            "",
        ] {
            let e = check_listen_addr("metrics.addr", bad, "127.0.0.1:9898").unwrap_err();
            assert!(e.to_string().contains("metrics.addr"), "{e}");
        }
    }

    #[test]
    fn a_token_an_http_header_cannot_carry_is_refused_without_showing_it() {
        assert_eq!(token_problem("abc.DEF-123_~+/="), None);
        assert_eq!(token_problem(""), None);
        for (token, why) in [
            ("s3cr\nXyZ", "a newline at byte 4"),
            ("s3cr\rXyZ", "a carriage return"),
            ("s3cr\u{1}XyZ", "U+0001"),
            ("s3cr\u{7f}XyZ", "U+007F"),
        ] {
            let e = check_token("load.token", token).unwrap_err().to_string();
            assert!(e.contains("load.token") && e.contains(why), "{e}");
            assert!(!e.contains("s3cr") && !e.contains("XyZ"), "{e}");
        }
    }
}
