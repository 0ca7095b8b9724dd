//! Who is on the other end of the connection: the socket's peer address, or the address a
//! trusted reverse proxy reports in `X-Forwarded-For`. A header from anyone else is ignored,
//! so a stranger cannot pick the address their requests are counted under.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request},
    middleware::Next,
    response::Response,
};

/// The client's address, as far as this server can trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The unit limits count by: the address itself for IPv4; for IPv6 its /64, since one
    /// subscriber usually holds a whole /64.
    pub fn bucket(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        }
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An address or a network (`10.0.0.0/8`, `fd00::/8`) whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr.trim().parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { network, prefix })
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        match (self.network, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// `::ffff:1.2.3.4` is `1.2.3.4`.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The client of a request that came from `peer` with these `X-Forwarded-For` values: walking
/// the hops from the right, each address a trusted proxy reports is believed until the first
/// one that is not itself a trusted proxy.
pub fn resolve(peer: IpAddr, forwarded_for: &[&str], trusted: &[TrustedProxy]) -> ClientAddr {
    let is_trusted = |a: IpAddr| trusted.iter().any(|t| t.contains(a));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return ClientAddr(client);
    }
    let hops = forwarded_for
        .iter()
        .rev()
        .flat_map(|value| value.rsplit(','))
        .map(str::trim);
    for hop in hops {
        let Ok(addr) = hop.parse::<IpAddr>() else {
            break;
        };
        client = canonical(addr);
        if !is_trusted(client) {
            break;
        }
    }
    ClientAddr(client)
}

/// Middleware: puts the request's [`ClientAddr`] in its extensions.
pub async fn identify(trusted: Arc<[TrustedProxy]>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let client = resolve(peer, &forwarded, &trusted);
    request.extensions_mut().insert(client);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter()
            .map(|p| TrustedProxy::parse(p).unwrap())
            .collect()
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let none = proxies(&[]);
        assert_eq!(
            resolve(ip("203.0.113.9"), &["1.2.3.4"], &none).0,
            ip("203.0.113.9")
        );
        let other = proxies(&["10.0.0.1"]);
        assert_eq!(
            resolve(ip("203.0.113.9"), &["1.2.3.4"], &other).0,
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_spoofed_hops_further_left_are_ignored() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            resolve(ip("10.0.0.1"), &["198.51.100.7"], &trusted).0,
            ip("198.51.100.7")
        );
        // The client wrote "1.1.1.1" itself; the proxy appended the real address.
        assert_eq!(
            resolve(ip("10.0.0.1"), &["1.1.1.1, 198.51.100.7"], &trusted).0,
            ip("198.51.100.7")
        );
        // Two trusted proxies in a row.
        assert_eq!(
            resolve(
                ip("10.0.0.1"),
                &["1.1.1.1, 198.51.100.7, 10.2.3.4"],
                &trusted
            )
            .0,
            ip("198.51.100.7")
        );
        // Several header lines read as one list.
        assert_eq!(
            resolve(ip("10.0.0.1"), &["1.1.1.1", "198.51.100.7"], &trusted).0,
            ip("198.51.100.7")
        );
    }

    #[test]
    fn garbage_in_the_header_stops_at_the_last_good_hop() {
        let trusted = proxies(&["127.0.0.1"]);
        assert_eq!(
            resolve(ip("127.0.0.1"), &["nonsense"], &trusted).0,
            ip("127.0.0.1")
        );
        assert_eq!(resolve(ip("127.0.0.1"), &[], &trusted).0, ip("127.0.0.1"));
        assert_eq!(
            resolve(ip("::ffff:127.0.0.1"), &["192.0.2.1"], &trusted).0,
            ip("192.0.2.1")
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a = ClientAddr(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientAddr(ip("2001:db8:1:2:bbbb::2"));
        assert_eq!(a.bucket(), b.bucket());
        assert_ne!(a.bucket(), ClientAddr(ip("2001:db8:1:3::1")).bucket());
        assert_eq!(ClientAddr(ip("::ffff:192.0.2.1")).bucket(), "192.0.2.1");
    }

    #[test]
    fn proxy_settings_parse_addresses_and_networks() {
        assert!(TrustedProxy::parse("10.0.0.0/8")
            .unwrap()
            .contains(ip("10.9.8.7")));
        assert!(!TrustedProxy::parse("10.0.0.0/8")
            .unwrap()
            .contains(ip("11.0.0.1")));
        assert!(TrustedProxy::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("8.8.8.8")));
        assert!(TrustedProxy::parse("fd00::/8")
            .unwrap()
            .contains(ip("fd12::1")));
        assert!(TrustedProxy::parse("10.0.0.0/33").is_none());
        assert!(TrustedProxy::parse("nope").is_none());
    }
}
