//! The one rule for every endpoint URL the CLI is given (`--base-url`, `--authorize-url`,
//! `--token-url`): `https://`, or `http://` on a loopback host only (127.0.0.0/8, `::1`,
//! `localhost`), and never with credentials in the URL. A token, a client secret or an authorization
//! code sent over plain HTTP to another host can be read on the way.

use anyhow::{Result, anyhow};
use url::{Host, Url};

/// Parses `url` given as `flag` and checks it against the rule above. The error names the flag and
/// says to use https; it never repeats a URL that carries a password.
pub fn check_endpoint_url(flag: &str, url: &str) -> Result<Url> {
    let parsed = Url::parse(url).map_err(|e| anyhow!("{flag} `{url}` is not a URL ({e}); give an https:// URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(anyhow!(
            "{flag} must not carry a user name or password (`user:password@`): give a plain https:// URL \
             (the token comes from the connection or the environment)"
        ));
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(anyhow!(
            "{flag} `{url}` is plain http to a host that is not loopback: use https:// (http:// is only \
             allowed for 127.0.0.0/8, [::1] and localhost, e.g. the emulator)"
        )),
        other => Err(anyhow!("{flag} `{url}` has the scheme `{other}`: use https://")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        // The URL parser lowercases the host. `localhost` only: subdomains of it and names that
        // merely resolve to loopback are not guaranteed to stay on this machine.
        Some(Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_http_on_loopback_are_allowed() {
        for url in [
            "https://api.intercom.io",
            "https://app.eu.intercom.com/oauth",
            "https://10.0.0.1:8443/",
            "http://127.0.0.1:4010",
            "http://127.5.6.7/auth/eagle/token",
            "http://localhost:8080/",
            "http://LOCALHOST:8080/",
            "http://[::1]:9/oauth",
        ] {
            let parsed = check_endpoint_url("--base-url", url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(matches!(parsed.scheme(), "http" | "https"));
        }
    }

    #[test]
    fn plain_http_elsewhere_is_refused_naming_the_flag() {
        for url in [
            "http://api.intercom.io",
            "http://10.0.0.1:4010",
            "http://192.168.1.2/",
            "http://0.0.0.0:4010",
            "http://[::ffff:127.0.0.1]/",
            "http://[::]:4010/",
            "http://localhost.example.com/",
            "http://app.localhost/",
            "http://127.0.0.1.nip.io/",
        ] {
            let error = check_endpoint_url("--token-url", url).expect_err(url).to_string();
            assert!(error.contains("--token-url") && error.contains("use https://"), "{url}: {error}");
        }
    }

    #[test]
    fn other_schemes_and_non_urls_are_refused() {
        for url in ["ftp://example.com/", "file:///etc/passwd", "ws://127.0.0.1/", "api.intercom.io", "", "https://"] {
            let error = check_endpoint_url("--authorize-url", url).expect_err(url).to_string();
            assert!(error.contains("--authorize-url") && error.contains("https://"), "{url}: {error}");
        }
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_repeating_them() {
        for url in
            ["https://user:s3cr3t-pw@api.intercom.io/", "https://user@api.intercom.io/", "http://:s3cr3t-pw@127.0.0.1/"]
        {
            let error = check_endpoint_url("--base-url", url).expect_err(url).to_string();
            assert!(error.contains("--base-url") && error.contains("https://"), "{url}: {error}");
            assert!(!error.contains("s3cr3t-pw") && !error.contains("user@"), "{url}: {error}");
        }
    }
}
