//! Egress to public hosts only. A bundle's allowed hosts are checked by name, and a name can point
//! anywhere: at the cloud metadata service (169.254.169.254), the host itself or the internal
//! network. So requests to hosts other than the connection's own origin (which the operator chose,
//! and which may well be on loopback: the emulator, a self-hosted Intercom proxy) go out only to
//! public addresses, over https:
//!
//! - the client those requests use resolves names with [`PublicOnly`], which refuses a name with any
//!   address that is not [`is_global`];
//! - a literal address in the URL never reaches a resolver, so [`check`] refuses it before sending,
//!   along with plain `http://`.
//!
//! The operator lifts both for a trusted bundle with `HttpLimits::allow_private_egress`
//! (`--allow-private-egress`); plain http then stays limited to loopback.

use crate::contract::types::Error as ComponentError;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// Whether `ip` is a public unicast address: not loopback, private (10/8, 172.16/12, 192.168/16),
/// link-local (169.254/16, fe80::/10), unique-local (fc00::/7), CGNAT (100.64/10), unspecified,
/// multicast, broadcast, reserved, documentation or benchmarking, nor an IPv6 form (mapped,
/// compatible, NAT64, 6to4) of such an IPv4 address. (`IpAddr::is_global` is not stable yet.)
pub(crate) fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", including the unspecified address
        || a == 10 // private
        || (a == 100 && (b & 0xc0) == 64) // shared address space (CGNAT), 100.64/10
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, the cloud metadata service
        || (a == 172 && (b & 0xf0) == 16) // private, 172.16/12
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation (TEST-NET-1)
        || (a == 192 && b == 168) // private
        || (a == 198 && (b & 0xfe) == 18) // benchmarking, 198.18/15
        || (a == 198 && b == 51 && c == 100) // documentation (TEST-NET-2)
        || (a == 203 && b == 0 && c == 113) // documentation (TEST-NET-3)
        || a >= 224) // multicast, reserved and the broadcast address
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 = |high: u16, low: u16| Ipv4Addr::from(((high as u32) << 16) | low as u32);
    match s {
        // IPv4-mapped (::ffff:a.b.c.d): the IPv4 address is what the socket reaches.
        [0, 0, 0, 0, 0, 0xffff, high, low] => is_global_v4(embedded_v4(high, low)),
        // NAT64's well-known prefix (64:ff9b::/96) reaches the embedded IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => is_global_v4(embedded_v4(high, low)),
        // 6to4 (2002::/16) embeds an IPv4 address in its next 32 bits.
        [0x2002, high, low, ..] => is_global_v4(embedded_v4(high, low)),
        // Unicast outside 2000::/3 is not global: ::/96 (unspecified, loopback, IPv4-compatible),
        // 64:ff9b:1::/48 (local NAT64), 100::/64 (discard), fc00::/7 (unique-local), fe80::/10
        // (link-local), fec0::/10 (site-local), ff00::/8 (multicast) and the unassigned rest.
        [first, ..] if first & 0xe000 != 0x2000 => false,
        // 2001::/23: IETF protocol assignments (Teredo, ORCHID, ...).
        [0x2001, second, ..] if second < 0x0200 => false,
        // Documentation: 2001:db8::/32 and 3fff::/20.
        [0x2001, 0x0db8, ..] => false,
        [0x3fff, second, ..] if second & 0xf000 == 0 => false,
        _ => true,
    }
}

/// A request to a host other than the connection's own was refused for where it would go.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// `host` is the URL's (a name, or `ip` itself when the URL has a literal address).
fn not_public(host: &str, ip: IpAddr, literal: bool) -> Refused {
    let at = if literal {
        format!("request to {host} refused: {ip}")
    } else {
        format!("request to {host} refused: it resolves to {ip}, which")
    };
    Refused(format!(
        "{at} is not a public address (loopback, private, link-local and other non-public ranges are \
         reachable only at the connection's own origin, unless the operator allows private egress with \
         --allow-private-egress)"
    ))
}

/// The refusal a transport error carries, if the resolver refused the request.
pub(crate) fn refusal(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source = Some(err);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused.0.clone());
        }
        source = cause.source();
    }
    None
}

/// Checks a request to a host other than the connection's own origin before it is sent: a literal
/// address must be public (the resolver never sees it), and the scheme https, except plain http to
/// loopback when the operator allows private egress.
pub(crate) fn check(url: &Url, allow_private: bool) -> Result<(), ComponentError> {
    let literal = match url.host() {
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    };
    if let Some(ip) = literal
        && !allow_private
        && !is_global(ip)
    {
        return Err(ComponentError::Forbidden(not_public(url.host_str().unwrap_or_default(), ip, true).0));
    }
    if url.scheme() != "https" && !(allow_private && is_loopback(url, literal)) {
        return Err(ComponentError::Forbidden(format!(
            "request to {} refused: hosts other than the connection's own are reached over https only (plain \
             http to loopback needs --allow-private-egress)",
            url.host_str().unwrap_or_default()
        )));
    }
    Ok(())
}

/// A loopback address, or a name that is loopback by definition (`localhost`, RFC 6761).
fn is_loopback(url: &Url, literal: Option<IpAddr>) -> bool {
    match literal {
        Some(IpAddr::V6(v6)) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Some(ip) => ip.is_loopback(),
        None => {
            let host = url.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

/// Names resolved by the system (`getaddrinfo` on a blocking thread, via tokio).
pub(crate) struct System;

impl Resolve for System {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A resolver that answers only with public addresses: a name with any address that is not
/// [`is_global`] is refused with [`Refused`] (a name that points at both a public and a private
/// address is no public host). Used by the client for hosts other than the connection's own origin.
pub(crate) struct PublicOnly(pub(crate) Arc<dyn Resolve>);

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let resolving = self.0.resolve(name);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = resolving.await?.collect();
            if let Some(private) = addrs.iter().find(|addr| !is_global(addr.ip())) {
                return Err(Box::new(not_public(&host, private.ip(), false)) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CallState, Connection, HostPolicy, OutboundHttp, resolve};
    use super::*;
    use crate::contract::http::{Method, Request};
    use crate::contract::types::Error as ComponentError;
    use crate::http::HttpLimits as Limits;
    use reqwest::dns::{Addrs, Name, Resolve, Resolving};
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn public_addresses_are_global() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "52.1.2.3",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_global(ip(addr)), "{addr} is public");
        }
    }

    #[test]
    fn non_public_addresses_are_not_global() {
        for addr in [
            // unspecified, "this network", loopback
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            // private
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
            // link-local (the cloud metadata service), CGNAT
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            // IETF protocol assignments, documentation, benchmarking
            "192.0.0.1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "198.19.255.255",
            // multicast, reserved, broadcast
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
            // IPv6: unspecified, loopback, link-local, unique-local, site-local, multicast
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            // documentation, discard, IETF assignments (Teredo), outside 2000::/3
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "2001::1",
            "4000::1",
            // IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms of non-public IPv4
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(!is_global(ip(addr)), "{addr} is not public");
        }
    }

    /// A resolver for tests: fixed answers, no DNS.
    struct Fixed(HashMap<&'static str, Vec<IpAddr>>);

    impl Resolve for Fixed {
        fn resolve(&self, name: Name) -> Resolving {
            let answer = self.0.get(name.as_str()).cloned();
            Box::pin(async move {
                match answer {
                    Some(ips) => Ok(Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0))) as Addrs),
                    None => Err("no such name in the test resolver".into()),
                }
            })
        }
    }

    fn fixed(names: &[(&'static str, &[&str])]) -> Arc<dyn Resolve> {
        Arc::new(Fixed(names.iter().map(|(name, ips)| (*name, ips.iter().map(|a| ip(a)).collect())).collect()))
    }

    /// A TCP listener on loopback that counts the connections it was sent (and closes them).
    async fn listener() -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        (port, connections)
    }

    fn request(method: Method, path: String) -> Request {
        Request { method, path, query: vec![], headers: vec![], body: None }
    }

    fn allowing(hosts: &[&str]) -> HostPolicy {
        HostPolicy { allowed_hosts: hosts.iter().map(|h| h.to_string()).collect() }
    }

    /// A connection whose origin the tests never reach: every request they make is to another host.
    fn elsewhere() -> Connection {
        Connection::new("t", "https://api.intercom.io", "tok").unwrap()
    }

    fn private_allowed() -> Limits {
        Limits { allow_private_egress: true, ..Limits::default() }
    }

    fn forbidden(result: Result<crate::contract::http::Response, ComponentError>) -> String {
        match result {
            Err(ComponentError::Forbidden(message)) => message,
            Err(other) => panic!("expected forbidden, got {other:?}"),
            Ok(response) => panic!("expected forbidden, got status {}", response.status),
        }
    }

    /// The request was sent (it reached the listener, which speaks no TLS): not a refusal.
    fn not_forbidden(result: Result<crate::contract::http::Response, ComponentError>) {
        if let Err(ComponentError::Forbidden(message)) = result {
            panic!("expected the request to be sent, got forbidden: {message}");
        }
    }

    #[tokio::test]
    async fn an_allowed_name_resolving_to_loopback_is_refused() {
        let (port, connections) = listener().await;
        let resolver = fixed(&[("evil.example.com", &["127.0.0.1"]), ("x.example-evil.com", &["169.254.169.254"])]);
        let http = OutboundHttp::with_resolver(&Limits::default(), resolver).unwrap();
        let policy = allowing(&["evil.example.com", "*.example-evil.com"]);
        let call = CallState::default();
        let url = format!("https://evil.example.com:{port}/steal");
        let message = forbidden(http.send(&elsewhere(), &policy, request(Method::Post, url), &call).await);
        assert!(message.contains("evil.example.com") && message.contains("127.0.0.1"), "{message}");
        assert!(message.contains("--allow-private-egress"), "{message}");
        assert_eq!(call.unanswered_writes.count(), 0, "a refused write was never sent");
        let url = "https://x.example-evil.com/latest/meta-data".to_string();
        let message = forbidden(http.send(&elsewhere(), &policy, request(Method::Get, url), &call).await);
        assert!(message.contains("169.254.169.254"), "{message}");
        assert_eq!(connections.load(Ordering::SeqCst), 0, "nothing was sent");
    }

    #[tokio::test]
    async fn a_name_resolving_to_public_and_private_addresses_is_refused() {
        let resolver = fixed(&[("evil.example.com", &["93.184.215.14", "10.0.0.7"])]);
        let http = OutboundHttp::with_resolver(&Limits::default(), resolver).unwrap();
        let url = "https://evil.example.com/".to_string();
        let message = forbidden(
            http.send(&elsewhere(), &allowing(&["evil.example.com"]), request(Method::Get, url), &CallState::default())
                .await,
        );
        assert!(message.contains("10.0.0.7"), "{message}");
    }

    #[tokio::test]
    async fn private_egress_allowed_by_the_operator_reaches_loopback() {
        let (port, connections) = listener().await;
        let resolver = fixed(&[("evil.example.com", &["127.0.0.1"])]);
        let http = OutboundHttp::with_resolver(&private_allowed(), resolver).unwrap();
        let url = format!("https://evil.example.com:{port}/steal");
        let policy = allowing(&["evil.example.com"]);
        not_forbidden(http.send(&elsewhere(), &policy, request(Method::Get, url), &CallState::default()).await);
        assert!(connections.load(Ordering::SeqCst) > 0, "the request reached the listener");
    }

    #[tokio::test]
    async fn the_connection_origin_on_loopback_still_works() {
        let emulator = intercom_emulator::spawn(intercom_emulator::EmulatorConfig::default()).await.unwrap();
        let port = emulator.addr().port();
        // Nothing resolves in this resolver's world except the origin's name, to loopback.
        let http =
            OutboundHttp::with_resolver(&Limits::default(), fixed(&[("intercom.test", &["127.0.0.1"])])).unwrap();
        for base in [emulator.base_url(), format!("http://intercom.test:{port}")] {
            let conn = Connection::new("t", &base, emulator.token()).unwrap();
            let answer = http
                .send(&conn, &HostPolicy::default(), request(Method::Get, "/me".into()), &CallState::default())
                .await
                .unwrap();
            assert_eq!(answer.status, 200, "{base}: {}", answer.body);
            let absolute = format!("{base}/me");
            let answer = http
                .send(&conn, &HostPolicy::default(), request(Method::Get, absolute), &CallState::default())
                .await
                .unwrap();
            assert_eq!(answer.status, 200, "{base}: {}", answer.body);
        }
    }

    #[tokio::test]
    async fn a_literal_non_public_address_is_refused_before_sending() {
        let (port, connections) = listener().await;
        let http = OutboundHttp::new(&Limits::default()).unwrap();
        let policy = allowing(&["127.0.0.1", "169.254.169.254", "[::1]", "[::ffff:a9fe:a9fe]"]);
        for url in [
            format!("https://127.0.0.1:{port}/"),
            format!("https://[::1]:{port}/"),
            "https://169.254.169.254/latest/meta-data".to_string(),
            "https://[::ffff:169.254.169.254]/latest/meta-data".to_string(),
        ] {
            let message = forbidden(
                http.send(&elsewhere(), &policy, request(Method::Get, url.clone()), &CallState::default()).await,
            );
            assert!(message.contains("not a public address"), "{url}: {message}");
            assert!(message.contains("--allow-private-egress"), "{url}: {message}");
        }
        assert_eq!(connections.load(Ordering::SeqCst), 0, "nothing was sent");

        let http = OutboundHttp::new(&private_allowed()).unwrap();
        let url = format!("https://127.0.0.1:{port}/");
        not_forbidden(http.send(&elsewhere(), &policy, request(Method::Get, url), &CallState::default()).await);
        assert!(connections.load(Ordering::SeqCst) > 0, "the request reached the listener");
    }

    #[tokio::test]
    async fn plain_http_to_another_host_is_refused_unless_loopback_is_allowed() {
        let (port, connections) = listener().await;
        let resolver = fixed(&[("api.example.com", &["93.184.215.14"]), ("localhost", &["127.0.0.1"])]);
        let policy = allowing(&["api.example.com", "127.0.0.1", "localhost"]);
        for limits in [Limits::default(), private_allowed()] {
            let http = OutboundHttp::with_resolver(&limits, resolver.clone()).unwrap();
            let url = "http://api.example.com/v1/things".to_string();
            let message =
                forbidden(http.send(&elsewhere(), &policy, request(Method::Get, url), &CallState::default()).await);
            assert!(message.contains("https"), "{message}");
        }
        let http = OutboundHttp::with_resolver(&Limits::default(), resolver.clone()).unwrap();
        for url in [format!("http://127.0.0.1:{port}/"), format!("http://localhost:{port}/")] {
            forbidden(http.send(&elsewhere(), &policy, request(Method::Get, url), &CallState::default()).await);
        }
        assert_eq!(connections.load(Ordering::SeqCst), 0, "nothing was sent");
        let http = OutboundHttp::with_resolver(&private_allowed(), resolver).unwrap();
        for url in [format!("http://127.0.0.1:{port}/"), format!("http://localhost:{port}/")] {
            not_forbidden(http.send(&elsewhere(), &policy, request(Method::Get, url), &CallState::default()).await);
        }
        assert!(connections.load(Ordering::SeqCst) >= 2, "both requests were sent");
    }

    #[test]
    fn a_url_with_userinfo_is_refused() {
        let conn = elsewhere();
        for path in
            ["https://u:hunter2@api.intercom.io/contacts", "https://u@api.intercom.io/", "https://:hunter2@x.io/"]
        {
            match resolve(&conn, &request(Method::Get, path.into())) {
                Err(ComponentError::Forbidden(message)) => {
                    assert!(message.contains("user name or password"), "{message}");
                    assert!(!message.contains("hunter2"), "the password is not repeated: {message}");
                }
                other => panic!("{path}: expected forbidden, got {other:?}"),
            }
        }
    }
}
