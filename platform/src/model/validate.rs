//! Checks of values against AWS rules, run when a stack is built (before any AWS call).

use std::net::Ipv4Addr;

/// An IPv4 CIDR block, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr4 {
    /// The network address.
    pub addr: Ipv4Addr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr4 {
    /// Whether `other` lies entirely inside this block.
    pub fn contains(&self, other: &Cidr4) -> bool {
        other.prefix >= self.prefix && mask(u32::from(other.addr), self.prefix) == u32::from(self.addr)
    }

    /// Whether the two blocks share an address.
    pub fn overlaps(&self, other: &Cidr4) -> bool {
        self.contains(other) || other.contains(self)
    }
}

fn mask(addr: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        addr & (u32::MAX << (32 - u32::from(prefix)))
    }
}

/// Parses `a.b.c.d/n`, requiring the host bits to be zero (as AWS does).
pub fn cidr4(text: &str) -> Result<Cidr4, String> {
    let (addr, prefix) = text.split_once('/').ok_or_else(|| format!("`{text}` is not a CIDR block (a.b.c.d/n)"))?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| format!("`{text}` is not a CIDR block: bad address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| format!("`{text}` is not a CIDR block: the prefix must be 0 to 32"))?;
    if mask(u32::from(addr), prefix) != u32::from(addr) {
        let net = Ipv4Addr::from(mask(u32::from(addr), prefix));
        return Err(format!("`{text}` has host bits set: did you mean `{net}/{prefix}`?"));
    }
    Ok(Cidr4 { addr, prefix })
}

/// Checks an IPv6 CIDR block's syntax.
pub fn cidr6(text: &str) -> Result<(), String> {
    let (addr, prefix) = text.split_once('/').ok_or_else(|| format!("`{text}` is not an IPv6 CIDR block"))?;
    let ok = addr.parse::<std::net::Ipv6Addr>().is_ok() && prefix.parse::<u8>().is_ok_and(|p| p <= 128);
    ok.then_some(()).ok_or_else(|| format!("`{text}` is not an IPv6 CIDR block"))
}

/// Checks a VPC or subnet block: AWS accepts prefixes /16 to /28.
pub fn vpc_cidr(attribute: &str, text: &str, problems: &mut Vec<String>) -> Option<Cidr4> {
    match cidr4(text) {
        Ok(c) if (16..=28).contains(&c.prefix) => Some(c),
        Ok(_) => {
            problems.push(format!("{attribute}: `{text}` must have a prefix between /16 and /28"));
            None
        }
        Err(e) => {
            problems.push(format!("{attribute}: {e}"));
            None
        }
    }
}

/// Whether a logical name is acceptable: lower-case letters, digits and dashes, starting with a letter.
pub fn logical_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= super::LOGICAL_NAME_MAX
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then_some(()).ok_or_else(|| {
        format!(
            "`{name}` is not a valid name: use 1 to {} lower-case letters, digits and dashes, starting with a letter",
            super::LOGICAL_NAME_MAX
        )
    })
}

/// Checks a text attribute's length.
pub fn length(attribute: &str, text: &str, max: usize, problems: &mut Vec<String>) {
    if text.is_empty() || text.len() > max {
        problems.push(format!("{attribute}: must be 1 to {max} characters long (it is {})", text.len()));
    }
}

/// Checks a DNS name (a Cloud Map namespace, for example).
pub fn dns_name(attribute: &str, text: &str, problems: &mut Vec<String>) {
    let labels_ok = text.split('.').all(|l| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    if text.len() > 253 || !labels_ok {
        problems.push(format!("{attribute}: `{text}` is not a valid DNS name"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cidr_blocks() {
        let c = cidr4("10.0.0.0/16").unwrap();
        assert!(c.contains(&cidr4("10.0.1.0/24").unwrap()));
        assert!(!c.contains(&cidr4("10.1.0.0/24").unwrap()));
        assert!(cidr4("10.0.0.1/16").unwrap_err().contains("did you mean `10.0.0.0/16`"));
        assert!(cidr4("10.0.0.0").is_err());
        assert!(cidr4("10.0.0.0/33").is_err());
        assert!(cidr4("300.0.0.0/8").is_err());
        assert!(cidr4("0.0.0.0/0").is_ok());
        assert!(cidr6("::/0").is_ok());
        assert!(cidr6("nope/0").is_err());
    }

    #[test]
    fn checks_logical_and_dns_names() {
        assert!(logical_name("public-a").is_ok());
        assert!(logical_name("Public").is_err());
        assert!(logical_name("1a").is_err());
        assert!(logical_name("a_b").is_err());
        let mut problems = vec![];
        dns_name("name", "dev.internal", &mut problems);
        dns_name("name", "bad_name.internal", &mut problems);
        assert_eq!(problems.len(), 1);
    }
}
