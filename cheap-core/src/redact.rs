//! Store URLs with their secrets hidden, for logs, errors and messages.

/// `url` with the password of its user info and any secret query parameter replaced by `***`:
/// `postgres://app:s3cret@db/x?sslpassword=k` becomes `postgres://app:***@db/x?sslpassword=***`.
/// Text that is not a URL with an authority comes back unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..authority_start]);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &rest[authority_len..];
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let (query, fragment) = query
                .split_once('#')
                .map_or((query, None), |(q, f)| (q, Some(f)));
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if is_secret(k) => format!("{k}=***"),
                    _ => p.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
            if let Some(f) = fragment {
                out.push('#');
                out.push_str(f);
            }
        }
        None => out.push_str(tail),
    }
    out
}

/// `text` with every occurrence of `url`'s password replaced by `***`, for messages a driver
/// wrote about that URL.
pub fn scrub(text: &str, url: &str) -> String {
    let password = url
        .find("://")
        .map(|i| &url[i + 3..])
        .map(|rest| &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())])
        .and_then(|authority| authority.rfind('@').map(|at| &authority[..at]))
        .and_then(|userinfo| userinfo.split_once(':'))
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty());
    let mut out = text.replace(url, &redact_url(url));
    if let Some(p) = password {
        out = out.replace(p, "***");
    }
    out
}

fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password", "passwd", "pass", "pwd", "secret", "token", "key",
    ]
    .iter()
    .any(|s| k == *s || k.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::{redact_url, scrub};

    #[test]
    fn messages_lose_the_password() {
        let url = "postgres://app:s3cret@db/x";
        assert_eq!(
            scrub(&format!("cannot reach {url}: bad password s3cret"), url),
            "cannot reach postgres://app:***@db/x: bad password ***"
        );
        assert_eq!(scrub("plain", "sqlite://x.db"), "plain");
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://app:s3cret@127.0.0.1:5432/test"),
            "postgres://app:***@127.0.0.1:5432/test"
        );
        assert_eq!(
            redact_url("mysql://root:p%40ss@db/x?ssl-mode=required&password=k#f"),
            "mysql://root:***@db/x?ssl-mode=required&password=***#f"
        );
        assert_eq!(
            redact_url("postgres://u:a:b@c@host/db"),
            "postgres://u:***@host/db"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact_url("sqlite://cheap.db"), "sqlite://cheap.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            redact_url("postgres://db/x?sslpassword=k&user=u"),
            "postgres://db/x?sslpassword=***&user=u"
        );
    }
}
