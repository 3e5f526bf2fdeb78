//! The server's own base URL as clients see it, for the URIs it stores in new catalogs.
//!
//! The configured public URL wins. Otherwise the request's `Host`, checked to be a host name
//! or address with an optional port (a `Host` of `a"b<script>` was stored verbatim). Forwarded
//! headers (`Forwarded`, `X-Forwarded-Host`, `X-Forwarded-Proto`) are honoured only when the
//! server is told it sits behind a proxy that sets them, since any client can send them.

use axum::http::{header, HeaderMap};

use crate::error::ApiError;

/// True for `name`, `name:port`, `1.2.3.4:80` or `[::1]:8080`.
fn is_host(h: &str) -> bool {
    let (host, port) = match h.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, tail)) => {
                if !v6
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
                {
                    return false;
                }
                (v6, tail.strip_prefix(':'))
            }
            None => return false,
        },
        None => match h.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        },
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ':');
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    host_ok && port_ok
}

/// `(proto, host)` from a `Forwarded` header's first element (RFC 7239).
fn forwarded(value: &str) -> (Option<String>, Option<String>) {
    let first = value.split(',').next().unwrap_or_default();
    let (mut proto, mut host) = (None, None);
    for pair in first.split(';') {
        if let Some((k, v)) = pair.trim().split_once('=') {
            let v = v.trim().trim_matches('"').to_owned();
            match k.trim().to_ascii_lowercase().as_str() {
                "proto" => proto = Some(v),
                "host" => host = Some(v),
                _ => {}
            }
        }
    }
    (proto, host)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(|v| {
        // A proxy chain appends; the first value is the client-facing one.
        v.split(',').next().unwrap_or(v).trim()
    })
}

/// The base URL (`scheme://host[:port]`, no trailing slash) for a request with `headers`.
pub(crate) fn base_url(
    headers: &HeaderMap,
    public_url: Option<&str>,
    trust_forwarded: bool,
) -> Result<String, ApiError> {
    if let Some(p) = public_url {
        return Ok(p.trim_end_matches('/').to_owned());
    }
    let (mut proto, mut host) = (None, None);
    if trust_forwarded {
        if let Some(f) = headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
            (proto, host) = forwarded(f);
        }
        host = host.or_else(|| header(headers, "x-forwarded-host").map(str::to_owned));
        proto = proto.or_else(|| header(headers, "x-forwarded-proto").map(str::to_owned));
    }
    let host = match host {
        Some(h) => h,
        None => header(headers, "host").unwrap_or("localhost").to_owned(),
    };
    if !is_host(&host) {
        return Err(ApiError::bad_request(format!(
            "Invalid Host header: '{}' is not a host name or address with an optional port",
            host.chars().take(100).collect::<String>()
        )));
    }
    let proto = match proto.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("http") => "http",
        Some("https") => "https",
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid forwarded protocol: '{other}'"
            )))
        }
    };
    Ok(format!("{proto}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn host_is_checked_and_forwarded_headers_need_trust() {
        let h = headers(&[("host", "cheap.local:8080")]);
        assert_eq!(
            base_url(&h, None, false).unwrap(),
            "http://cheap.local:8080"
        );
        for bad in ["a\"b<script>", "x y", "h:80x", "[zz]:1", ""] {
            let h = headers(&[("host", bad)]);
            assert!(base_url(&h, None, false).is_err(), "{bad}");
        }
        assert_eq!(
            base_url(&headers(&[("host", "[::1]:8080")]), None, false).unwrap(),
            "http://[::1]:8080"
        );
        let proxied = headers(&[
            ("host", "10.0.0.5:8080"),
            ("x-forwarded-host", "api.example.com"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(
            base_url(&proxied, None, false).unwrap(),
            "http://10.0.0.5:8080"
        );
        assert_eq!(
            base_url(&proxied, None, true).unwrap(),
            "https://api.example.com"
        );
        let rfc = headers(&[
            ("host", "10.0.0.5"),
            (
                "forwarded",
                "for=1.2.3.4;proto=https;host=\"pub.example\", for=5.6.7.8",
            ),
        ]);
        assert_eq!(base_url(&rfc, None, true).unwrap(), "https://pub.example");
        assert_eq!(
            base_url(&rfc, Some("https://cheap.example.org/"), true).unwrap(),
            "https://cheap.example.org"
        );
        let evil = headers(&[("host", "ok"), ("x-forwarded-host", "a\"b")]);
        assert!(base_url(&evil, None, true).is_err());
    }
}
