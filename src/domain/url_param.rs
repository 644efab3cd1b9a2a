//! URL parameters of runbooks: the hosts a run may make an agent reach. A value must be a
//! plain http(s) URL whose host is on an allowlist (the runbook's, else the agent's), and a
//! link-local or cloud metadata address is refused unless an entry names it exactly, so a
//! responder can never point `health_url` at the instance's credentials.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// One entry of an allowlist: a host name, `*.domain` (any host under it), an IP address or
/// an IP network (`10.0.0.0/8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Name(String),
    /// The suffix with its leading dot: `*.example.com` keeps `.example.com`.
    Under(String),
    Ip(IpAddr),
    Network(IpAddr, u8),
}

impl HostPattern {
    /// Reads an entry, or says what it should look like.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let text = text.trim().to_ascii_lowercase();
        let bad = || {
            format!(
                "'{text}' is not a host entry; write a name (app.internal), *.domain, an IP address or a network (10.0.0.0/8)"
            )
        };
        if let Some((address, bits)) = text.split_once('/') {
            let address: IpAddr = address.parse().map_err(|_| bad())?;
            let bits: u8 = bits.parse().map_err(|_| bad())?;
            let most = if address.is_ipv4() { 32 } else { 128 };
            if bits > most {
                return Err(bad());
            }
            return Ok(HostPattern::Network(address, bits));
        }
        let unbracketed = text.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(HostPattern::Ip(ip));
        }
        let (under, name) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(if under {
            HostPattern::Under(format!(".{name}"))
        } else {
            HostPattern::Name(name.to_string())
        })
    }

    fn matches(&self, host: &Target) -> bool {
        match (self, host) {
            (HostPattern::Name(n), Target::Name(h)) => n == h,
            (HostPattern::Under(suffix), Target::Name(h)) => h.ends_with(suffix.as_str()),
            (HostPattern::Ip(ip), Target::Ip(h)) => ip == h,
            (HostPattern::Network(net, bits), Target::Ip(h)) => in_network(*h, *net, *bits),
            _ => false,
        }
    }

    /// Whether the entry names `host` alone: what a sensitive address needs.
    fn names_exactly(&self, host: &Target) -> bool {
        match (self, host) {
            (HostPattern::Name(n), Target::Name(h)) => n == h,
            (HostPattern::Ip(ip), Target::Ip(h)) => ip == h,
            _ => false,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Name(n) => f.write_str(n),
            HostPattern::Under(suffix) => write!(f, "*{suffix}"),
            HostPattern::Ip(ip) => write!(f, "{ip}"),
            HostPattern::Network(ip, bits) => write!(f, "{ip}/{bits}"),
        }
    }
}

/// A URL's host, normalised: lowercase names, and addresses however they were written
/// (`http://2852039166/` is 169.254.169.254; an IPv4-mapped IPv6 address is its IPv4).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Name(String),
    Ip(IpAddr),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Name(n) => f.write_str(n),
            Target::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Host names that answer with an instance's metadata (and its credentials).
const METADATA_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.com",
];

/// Whether `host` is link-local or a cloud metadata address.
fn is_sensitive(host: &Target) -> bool {
    match host {
        Target::Name(n) => METADATA_NAMES.contains(&n.trim_end_matches('.')),
        Target::Ip(IpAddr::V4(v4)) => {
            v4.is_link_local()
                || *v4 == Ipv4Addr::new(100, 100, 100, 200) // Alibaba Cloud
                || *v4 == Ipv4Addr::new(192, 0, 0, 192) // Oracle Cloud
        }
        Target::Ip(IpAddr::V6(v6)) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80 // fe80::/10
                || *v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) // AWS over IPv6
        }
    }
}

fn in_network(host: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (host, network) {
        (IpAddr::V4(h), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(h) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(h), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(h) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Checks a URL parameter's value against `allowed`. With an empty list only the form and
/// the sensitive addresses are checked (the server, when the runbook leaves the list to
/// its agents); `require_list` makes an empty list refuse everything (the agent).
pub fn check_url(
    name: &str,
    value: &str,
    allowed: &[HostPattern],
    require_list: bool,
) -> Result<(), String> {
    let url = Url::parse(value).map_err(|e| format!("{name}: not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{name}: only http:// and https:// URLs are allowed"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{name}: a URL may not carry a user or password (user@host)"
        ));
    }
    let host = match url.host() {
        Some(Host::Domain(d)) => Target::Name(d.to_ascii_lowercase()),
        Some(Host::Ipv4(v4)) => Target::Ip(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Target::Ip(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }),
        None => return Err(format!("{name}: the URL names no host")),
    };
    if is_sensitive(&host) && !allowed.iter().any(|p| p.names_exactly(&host)) {
        return Err(format!(
            "{name}: {host} is a link-local or cloud metadata address; it is refused unless the runbook's hosts (or the agent's url_hosts) name it exactly"
        ));
    }
    if allowed.is_empty() {
        return if require_list {
            Err(format!(
                "{name}: no host is allowed; list them in the runbook parameter's hosts or in the agent's url_hosts"
            ))
        } else {
            Ok(())
        };
    }
    if !allowed.iter().any(|p| p.matches(&host)) {
        let list: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        return Err(format!(
            "{name}: {host} is not an allowed host; use one of {}",
            list.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<HostPattern> {
        entries
            .iter()
            .map(|e| HostPattern::parse(e).unwrap())
            .collect()
    }

    #[test]
    fn only_listed_hosts_pass() {
        let allowed = list(&[
            "127.0.0.1",
            "localhost",
            "*.svc.internal",
            "10.0.0.0/8",
            "::1",
        ]);
        for ok in [
            "http://127.0.0.1:8080/healthz",
            "https://LOCALHOST/health",
            "http://app.svc.internal/x",
            "http://10.1.2.3/",
            "http://[::1]:9000/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(check_url("health_url", ok, &allowed, true), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://evil.example/", "not an allowed host"),
            ("http://svc.internal/", "not an allowed host"),
            ("http://127.0.0.2/", "not an allowed host"),
            ("http://11.0.0.1/", "not an allowed host"),
            ("http://127.0.0.1@evil.example/", "user or password"),
            ("file:///etc/passwd", "only http"),
            ("gopher://127.0.0.1/", "only http"),
            ("not a url", "not a URL"),
        ] {
            let refused = check_url("health_url", bad, &allowed, true).unwrap_err();
            assert!(refused.contains(why), "{bad}: {refused}");
            assert!(refused.starts_with("health_url: "), "{refused}");
        }
    }

    #[test]
    fn metadata_and_link_local_need_an_exact_entry() {
        let broad = list(&["0.0.0.0/0", "::/0", "*.internal", "metadata"]);
        for sneaky in [
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/latest/meta-data/",
            "http://0xA9FEA9FE/",
            "http://[::ffff:169.254.169.254]/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://100.100.100.200/",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
        ] {
            let refused = check_url("u", sneaky, &broad, true).unwrap_err();
            assert!(refused.contains("metadata address"), "{sneaky}: {refused}");
            // Without any list (the server leaving it to agents) they are refused too.
            assert!(check_url("u", sneaky, &[], false).is_err(), "{sneaky}");
        }
        let exact = list(&["169.254.169.254"]);
        assert_eq!(
            check_url("u", "http://169.254.169.254/", &exact, true),
            Ok(())
        );
        assert_eq!(check_url("u", "http://metadata/", &broad, true), Ok(()));
    }

    #[test]
    fn an_agent_needs_a_list_the_server_may_leave_to_it() {
        assert_eq!(check_url("u", "http://app.internal/", &[], false), Ok(()));
        let refused = check_url("u", "http://app.internal/", &[], true).unwrap_err();
        assert!(refused.contains("no host is allowed"), "{refused}");
    }

    #[test]
    fn entries_are_checked() {
        for bad in ["", "http://x", "a b", "10.0.0.0/33", "*.", "x/8", "a..b"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            HostPattern::parse("*.Example.com").unwrap().to_string(),
            "*.example.com"
        );
        assert_eq!(
            HostPattern::parse("[::1]").unwrap(),
            HostPattern::Ip("::1".parse().unwrap())
        );
    }
}
