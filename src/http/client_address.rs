//! The client's address, which throttles count against: the TCP peer's, or, when the peer is a
//! trusted proxy (`DIALOGUE_TRUSTED_PROXIES`), the nearest address in `X-Forwarded-For` that is
//! not one. The header is read from the right, since a client can put anything on its left.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// Where the request comes from.
pub fn client_address(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|value| value.to_str().ok());
    Some(behind_proxies(peer, forwarded, trusted))
}

fn behind_proxies<'a>(peer: IpAddr, forwarded: impl Iterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|network| network.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.flat_map(|value| value.split(',')).map(str::trim).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(address) = hop.parse::<IpAddr>() else {
            // Garbage from a client: stop at the last address a trusted proxy vouched for.
            break;
        };
        client = address;
        if !is_trusted(&address) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted() -> Vec<IpNet> {
        vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let client = behind_proxies(ip("203.0.113.9"), ["198.51.100.1"].into_iter(), &trusted());
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let header = ["198.51.100.1, 203.0.113.7", "10.1.2.3"];
        assert_eq!(behind_proxies(ip("127.0.0.1"), header.into_iter(), &trusted()), ip("203.0.113.7"));
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        assert_eq!(behind_proxies(ip("127.0.0.1"), std::iter::empty(), &trusted()), ip("127.0.0.1"));
    }

    #[test]
    fn garbage_in_the_header_stops_at_the_last_vouched_address() {
        let header = ["not-an-address, 10.9.9.9"];
        assert_eq!(behind_proxies(ip("127.0.0.1"), header.into_iter(), &trusted()), ip("10.9.9.9"));
    }

    #[test]
    fn with_no_trusted_proxies_the_header_is_ignored() {
        assert_eq!(behind_proxies(ip("127.0.0.1"), ["203.0.113.7"].into_iter(), &[]), ip("127.0.0.1"));
    }
}
