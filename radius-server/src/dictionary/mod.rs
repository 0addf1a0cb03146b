//! Attribute names and types: the RFC 2865/2866/2869/3162/5176 attributes and the Microsoft
//! (311), MikroTik (14988) and WISPr (14122) vendor attributes are built in (FreeRADIUS-format
//! files under `dictionaries/`, parsed by the same code that loads extra vendor files).
//! The numeric constants the server uses are in [`attr`], [`vendor`], [`microsoft`] and
//! [`mikrotik`] (defined in [`crate::numbers`], below both this module and
//! [`crate::attribute`], so that the attribute codec needs nothing from the dictionaries).

mod parse;
mod value;

use std::collections::HashMap;
use std::path::Path;

pub use parse::DictionaryError;
pub use value::ValueError;

/// The numbers the server uses, kept beside the codec ([`crate::numbers`]) and named here too.
pub use crate::numbers::{attr, microsoft, mikrotik, vendor, wispr};

/// The value type of an attribute, as named in FreeRADIUS dictionaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Octets,
    Integer,
    Integer64,
    Byte,
    Short,
    Signed,
    Date,
    IpAddr,
    Ipv6Addr,
    Ipv6Prefix,
    InterfaceId,
    Ether,
}

/// Where an attribute lives: vendor 0 is the standard space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributeKey {
    /// 0 for standard attributes, else the vendor's enterprise number.
    pub vendor: u32,
    /// The attribute (or vendor sub-attribute) type.
    pub code: u8,
}

/// One dictionary entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDef {
    /// The attribute's name, e.g. `Mikrotik-Rate-Limit`.
    pub name: String,
    /// Vendor and type.
    pub key: AttributeKey,
    /// The value type.
    pub kind: AttributeType,
    /// Named integer values (VALUE lines), e.g. `Start` = 1.
    pub values: Vec<(String, u32)>,
}

/// Names, types and values of attributes.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    attributes: HashMap<AttributeKey, AttributeDef>,
    by_name: HashMap<String, AttributeKey>,
    vendors: HashMap<String, u32>,
}

const BUILTIN: &[(&str, &str)] = &[
    (
        "dictionary.rfc2865",
        include_str!("../../dictionaries/dictionary.rfc2865"),
    ),
    (
        "dictionary.rfc2866",
        include_str!("../../dictionaries/dictionary.rfc2866"),
    ),
    (
        "dictionary.rfc2869",
        include_str!("../../dictionaries/dictionary.rfc2869"),
    ),
    (
        "dictionary.rfc3162",
        include_str!("../../dictionaries/dictionary.rfc3162"),
    ),
    (
        "dictionary.rfc5176",
        include_str!("../../dictionaries/dictionary.rfc5176"),
    ),
    (
        "dictionary.microsoft",
        include_str!("../../dictionaries/dictionary.microsoft"),
    ),
    (
        "dictionary.mikrotik",
        include_str!("../../dictionaries/dictionary.mikrotik"),
    ),
    (
        "dictionary.wispr",
        include_str!("../../dictionaries/dictionary.wispr"),
    ),
];

impl Dictionary {
    /// The built-in dictionary (RFC attributes, Microsoft, MikroTik, WISPr).
    pub fn builtin() -> Self {
        let mut dictionary = Self::default();
        for (origin, text) in BUILTIN {
            // The built-in files are tested; a failure here is a bug in them.
            if let Err(error) = dictionary.load_str(text, origin) {
                unreachable!("built-in dictionary is invalid: {error}");
            }
        }
        dictionary
    }

    /// Adds the definitions in a FreeRADIUS-format dictionary file (VENDOR, ATTRIBUTE, VALUE,
    /// BEGIN-VENDOR/END-VENDOR, `$INCLUDE` relative to the file). Errors name file and line.
    pub fn load_file(&mut self, path: &Path) -> Result<(), DictionaryError> {
        parse::load_file(self, path, 0)
    }

    /// Adds the definitions in dictionary text; `origin` names it in errors.
    pub fn load_str(&mut self, text: &str, origin: &str) -> Result<(), DictionaryError> {
        parse::load_text(self, text, origin, None, 0)
    }

    /// The entry with this name (names are compared without regard to case, as FreeRADIUS does).
    pub fn by_name(&self, name: &str) -> Option<&AttributeDef> {
        self.by_name
            .get(&name.to_ascii_lowercase())
            .and_then(|key| self.attributes.get(key))
    }

    /// The entry for a vendor (0 = standard) and type.
    pub fn by_key(&self, key: AttributeKey) -> Option<&AttributeDef> {
        self.attributes.get(&key)
    }

    /// The enterprise number of a vendor by name.
    pub fn vendor_id(&self, name: &str) -> Option<u32> {
        self.vendors.get(&name.to_ascii_lowercase()).copied()
    }

    /// Encodes `value` (text as in a FreeRADIUS users file) for the named attribute.
    pub fn encode(&self, name: &str, value: &str) -> Result<crate::Attribute, ValueError> {
        let def = self
            .by_name(name)
            .ok_or_else(|| ValueError::UnknownAttribute(name.to_owned()))?;
        value::encode(def, value)
    }

    fn insert_vendor(&mut self, name: &str, id: u32) {
        self.vendors.insert(name.to_ascii_lowercase(), id);
    }

    fn insert_attribute(&mut self, mut def: AttributeDef) {
        // A second name for the same vendor and number is an alias (FreeRADIUS ships
        // `Mikrotik-Wireless-VLANIDtype` and `Mikrotik-Wireless-VLANID-Type`): both names
        // resolve, the newer one is the entry's name, and VALUEs carry over.
        if let Some(old) = self.attributes.remove(&def.key) {
            def.values = old.values;
        }
        self.by_name.insert(def.name.to_ascii_lowercase(), def.key);
        self.attributes.insert(def.key, def);
    }

    fn attribute_mut(&mut self, name: &str) -> Option<&mut AttributeDef> {
        let key = self.by_name.get(&name.to_ascii_lowercase())?;
        self.attributes.get_mut(key)
    }
}

impl AttributeDef {
    /// The name of an integer value, e.g. `Interim-Update` for Acct-Status-Type 3.
    pub fn value_name(&self, value: u32) -> Option<&str> {
        self.values
            .iter()
            .find(|(_, v)| *v == value)
            .map(|(name, _)| name.as_str())
    }

    /// The integer for a value name.
    pub fn value_of(&self, name: &str) -> Option<u32> {
        self.values
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_rfc_and_vendor_attributes() {
        let dictionary = Dictionary::builtin();
        let cases = [
            ("User-Name", 0, attr::USER_NAME, AttributeType::String),
            (
                "Acct-Interim-Interval",
                0,
                attr::ACCT_INTERIM_INTERVAL,
                AttributeType::Integer,
            ),
            ("Framed-IPv6-Prefix", 0, 97, AttributeType::Ipv6Prefix),
            ("Error-Cause", 0, attr::ERROR_CAUSE, AttributeType::Integer),
            (
                "Event-Timestamp",
                0,
                attr::EVENT_TIMESTAMP,
                AttributeType::Date,
            ),
            (
                "MS-CHAP2-Success",
                vendor::MICROSOFT,
                microsoft::MS_CHAP2_SUCCESS,
                AttributeType::Octets,
            ),
            (
                "Mikrotik-Rate-Limit",
                vendor::MIKROTIK,
                mikrotik::RATE_LIMIT,
                AttributeType::String,
            ),
            (
                "mikrotik-total-limit-gigawords",
                vendor::MIKROTIK,
                mikrotik::TOTAL_LIMIT_GIGAWORDS,
                AttributeType::Integer,
            ),
            (
                "WISPr-Bandwidth-Max-Down",
                vendor::WISPR,
                wispr::BANDWIDTH_MAX_DOWN,
                AttributeType::Integer,
            ),
        ];
        for (name, vendor, code, kind) in cases {
            let def = dictionary.by_name(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(def.key, AttributeKey { vendor, code }, "{name}");
            assert_eq!(def.kind, kind, "{name}");
        }
        let status = dictionary.by_name("Acct-Status-Type").unwrap();
        assert_eq!(status.value_name(3), Some("Interim-Update"));
        assert_eq!(status.value_of("accounting-on"), Some(7));
        assert_eq!(dictionary.vendor_id("Mikrotik"), Some(vendor::MIKROTIK));
    }

    #[test]
    fn a_second_name_for_a_number_is_an_alias() {
        let mut dictionary = Dictionary::builtin();
        dictionary
            .load_str(
                "ATTRIBUTE Old-Name 200 integer\n\
                 VALUE Old-Name One 1\n\
                 ATTRIBUTE New-Name 200 integer\n\
                 VALUE Old-Name Two 2\n",
                "dictionary.alias",
            )
            .unwrap();
        let old = dictionary.by_name("Old-Name").unwrap();
        assert_eq!(old.name, "New-Name");
        assert_eq!(old.value_of("One"), Some(1));
        assert_eq!(
            dictionary.by_name("New-Name").unwrap().value_of("Two"),
            Some(2)
        );
    }
}
