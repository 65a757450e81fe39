//! Which receiver URLs a webhook may call. Only `http` and `https`, and only hosts whose every
//! address is public: a hook must not become a way to reach the server's own network (loopback,
//! private, link-local, carrier-grade NAT, multicast, reserved and documentation ranges, IPv6
//! unique-local and link-local, and IPv4 addresses carried inside IPv6). It is meant to run when
//! a hook is created and again before every delivery, the delivery connecting to the addresses
//! that were checked (and following no redirect), so that DNS cannot be rebound to an internal
//! address in between.
//! `DIALOGUE_WEBHOOK_ALLOW_PRIVATE=true` lifts the address rule (tests, private deployments).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::Url;

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a URL, or one with no host.
    #[error("not an absolute http(s) URL: {0}")]
    Malformed(String),
    /// A scheme other than `http` and `https`.
    #[error("only http and https URLs are allowed, not {0}")]
    Scheme(String),
    /// The host does not resolve.
    #[error("the host {0} does not resolve")]
    Unresolved(String),
    /// The host is or resolves to a non-public address.
    #[error("the host {host} resolves to {address}, which is not a public address")]
    NotPublic {
        /// The URL's host.
        host: String,
        /// The first non-public address it resolves to.
        address: IpAddr,
    },
}

/// A URL that passed the check, with the addresses to connect to.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The URL.
    pub url: Url,
    /// Its host, as the URL parser normalized it (IPv6 without brackets).
    pub host: String,
    /// The addresses it resolved to, all allowed.
    pub addresses: Vec<SocketAddr>,
}

/// Parses `url`, resolves its host, and checks every address it resolves to.
pub async fn check(url: &str, allow_private: bool) -> Result<Checked, Refusal> {
    let parsed = Url::parse(url).map_err(|error| Refusal::Malformed(error.to_string()))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(Refusal::Scheme(parsed.scheme().to_owned()));
    }
    let host = parsed.host_str().filter(|host| !host.is_empty()).ok_or_else(|| Refusal::Malformed(url.into()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| Refusal::Unresolved(host.clone()))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(Refusal::Unresolved(host));
    }
    if !allow_private && let Some(address) = addresses.iter().map(SocketAddr::ip).find(|ip| !is_public(*ip)) {
        return Err(Refusal::NotPublic { host, address });
    }
    Ok(Checked { url: parsed, host, addresses })
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64, which maps private IPv4 too
        || first == 0x2002 // 6to4, which embeds any IPv4
        || (first == 0x2001 && ip.segments()[1] == 0) // Teredo
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]) // discard-only
        || (ip.segments()[..4] == [0, 0, 0, 0] && ip.segments()[4] == 0xffff && ip.segments()[5] == 0) // SIIT
        || ip.to_ipv4().is_some_and(|v4| !is_public_v4(v4))) // IPv4-compatible
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for public in ["8.8.8.8", "1.1.1.1", "151.101.1.69", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"] {
            assert!(is_public(ip(public)), "{public} is public");
        }
        for private in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254", // cloud metadata
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2001:0:4136:e378::1",
            "fec0::1",
            "100::1",
            "::ffff:0:a00:1",
            "192.88.99.1",
        ] {
            assert!(!is_public(ip(private)), "{private} is not public");
        }
    }

    #[actix_web::test]
    async fn urls_are_http_or_https_with_public_hosts_unless_private_ones_are_allowed() {
        assert!(matches!(check("ftp://example.org/x", false).await, Err(Refusal::Scheme(_))));
        assert!(matches!(check("not a url", false).await, Err(Refusal::Malformed(_))));
        assert!(matches!(check("http://127.0.0.1:8080/hook", false).await, Err(Refusal::NotPublic { .. })));
        assert!(matches!(check("http://[::1]/hook", false).await, Err(Refusal::NotPublic { .. })));
        assert!(matches!(check("http://169.254.169.254/latest", false).await, Err(Refusal::NotPublic { .. })));
        // A name that resolves to loopback is refused as its address is.
        assert!(matches!(check("http://localhost:9/hook", false).await, Err(Refusal::NotPublic { .. })));
        let allowed = check("http://localhost:9/hook", true).await.expect("allowed with the flag");
        assert!(allowed.addresses.iter().all(|address| address.ip().is_loopback() && address.port() == 9));
        let literal = check("https://8.8.8.8/hook", false).await.expect("a public literal needs no DNS");
        assert_eq!(literal.addresses, vec!["8.8.8.8:443".parse().unwrap()]);
    }
}
