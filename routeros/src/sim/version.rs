//! The RouterOS version a simulator plays, which decides the login mode and `!empty`.

/// A RouterOS version such as `6.42.12` or `7.18`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouterOsVersion {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
    /// Patch version, 0 when absent.
    pub patch: u16,
}

impl RouterOsVersion {
    /// A version from its parts.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// The first version with the plain-text `/login`.
    pub const PLAIN_LOGIN: Self = Self::new(6, 43, 0);
    /// The first version that sends `!empty` for a print matching nothing.
    pub const EMPTY_REPLY: Self = Self::new(7, 18, 0);

    /// True when `/login =name= =password=` is accepted directly.
    pub fn plain_login(&self) -> bool {
        *self >= Self::PLAIN_LOGIN
    }

    /// True when a print that matches nothing answers `!empty` before `!done`.
    pub fn sends_empty(&self) -> bool {
        *self >= Self::EMPTY_REPLY
    }
}

impl std::str::FromStr for RouterOsVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{text}` is not a RouterOS version like 7.18 or 6.42.12");
        let mut parts = text.trim().split('.');
        let mut next = |required: bool| -> Result<u16, String> {
            match parts.next() {
                Some(p) => p.parse().map_err(|_| bad()),
                None if required => Err(bad()),
                None => Ok(0),
            }
        };
        let version = Self::new(next(true)?, next(true)?, next(false)?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(version)
    }
}

impl std::fmt::Display for RouterOsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_versions() {
        let old: RouterOsVersion = "6.42.12".parse().unwrap();
        let new: RouterOsVersion = "7.18".parse().unwrap();
        assert!(!old.plain_login() && new.plain_login());
        assert!(!"7.17.2".parse::<RouterOsVersion>().unwrap().sends_empty());
        assert!(new.sends_empty());
        assert_eq!(new.to_string(), "7.18");
        assert!("7".parse::<RouterOsVersion>().is_err());
        assert!("7.x".parse::<RouterOsVersion>().is_err());
    }
}
