//! The FreeRADIUS dictionary file format: `VENDOR`, `BEGIN-VENDOR`/`END-VENDOR`, `ATTRIBUTE`,
//! `VALUE` and `$INCLUDE` lines; `#` starts a comment. Only the RFC 2865 VSA layout
//! (`format=1,1`) is accepted, since that is what the codec decodes.

use std::path::{Path, PathBuf};

use super::{AttributeDef, AttributeKey, AttributeType, Dictionary};

/// Includes deeper than this are refused (they are loops in practice).
const MAX_INCLUDE_DEPTH: usize = 8;

/// A dictionary that cannot be loaded, with the file and line at fault.
#[derive(Debug, thiserror::Error)]
pub enum DictionaryError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
}

pub(super) fn load_file(
    dictionary: &mut Dictionary,
    path: &Path,
    depth: usize,
) -> Result<(), DictionaryError> {
    let text = std::fs::read_to_string(path).map_err(|source| DictionaryError::Read {
        file: path.display().to_string(),
        source,
    })?;
    load_text(
        dictionary,
        &text,
        &path.display().to_string(),
        path.parent(),
        depth,
    )
}

pub(super) fn load_text(
    dictionary: &mut Dictionary,
    text: &str,
    origin: &str,
    dir: Option<&Path>,
    depth: usize,
) -> Result<(), DictionaryError> {
    let mut vendor_block: Option<u32> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let error = |message: String| DictionaryError::Syntax {
            file: origin.to_owned(),
            line,
            message,
        };
        let content = raw.split('#').next().unwrap_or_default();
        let fields: Vec<&str> = content.split_whitespace().collect();
        let Some(&keyword) = fields.first() else {
            continue;
        };
        match keyword {
            "VENDOR" => {
                let [_, name, number, rest @ ..] = fields.as_slice() else {
                    return Err(error("VENDOR needs a name and a number".into()));
                };
                let id = parse_number(number)
                    .ok_or_else(|| error(format!("vendor number `{number}` is not a number")))?;
                for option in rest {
                    if *option != "format=1,1" {
                        return Err(error(format!(
                            "vendor option `{option}` is not supported (only format=1,1)"
                        )));
                    }
                }
                dictionary.insert_vendor(name, id);
            }
            "BEGIN-VENDOR" => {
                let [_, name, ..] = fields.as_slice() else {
                    return Err(error("BEGIN-VENDOR needs a vendor name".into()));
                };
                let id = dictionary
                    .vendor_id(name)
                    .ok_or_else(|| error(format!("unknown vendor `{name}`")))?;
                vendor_block = Some(id);
            }
            "END-VENDOR" => {
                if vendor_block.take().is_none() {
                    return Err(error("END-VENDOR without BEGIN-VENDOR".into()));
                }
            }
            "ATTRIBUTE" => {
                let [_, name, number, kind, rest @ ..] = fields.as_slice() else {
                    return Err(error("ATTRIBUTE needs a name, a number and a type".into()));
                };
                let code = parse_number(number)
                    .and_then(|n| u8::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| error(format!("attribute number `{number}` is not 1..=255")))?;
                let kind = parse_type(kind)
                    .ok_or_else(|| error(format!("attribute type `{kind}` is not supported")))?;
                let mut vendor = vendor_block.unwrap_or(0);
                // Old style: a vendor name as the fourth field. Flags (encrypt=1, has_tag,
                // concat…) are accepted and ignored: they change how FreeRADIUS stores or
                // hides a value, not its number or type.
                for option in rest {
                    if option.split(',').all(is_flag) {
                        continue;
                    }
                    vendor = dictionary
                        .vendor_id(option)
                        .ok_or_else(|| error(format!("unknown vendor or flag `{option}`")))?;
                }
                dictionary.insert_attribute(AttributeDef {
                    name: (*name).to_owned(),
                    key: AttributeKey { vendor, code },
                    kind,
                    values: Vec::new(),
                });
            }
            "VALUE" => {
                let [_, attribute, name, number, ..] = fields.as_slice() else {
                    return Err(error(
                        "VALUE needs an attribute, a name and a number".into(),
                    ));
                };
                let value = parse_number(number)
                    .ok_or_else(|| error(format!("value `{number}` is not a number")))?;
                let def = dictionary
                    .attribute_mut(attribute)
                    .ok_or_else(|| error(format!("VALUE for unknown attribute `{attribute}`")))?;
                def.values.push(((*name).to_owned(), value));
            }
            "$INCLUDE" | "$INCLUDE-" => {
                let [_, file, ..] = fields.as_slice() else {
                    return Err(error("$INCLUDE needs a file name".into()));
                };
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(error(format!(
                        "includes nest deeper than {MAX_INCLUDE_DEPTH}"
                    )));
                }
                let path = dir.map_or_else(|| PathBuf::from(file), |dir| dir.join(file));
                let result = load_file(dictionary, &path, depth + 1);
                // `$INCLUDE-` tolerates a missing file, as in FreeRADIUS.
                match result {
                    Err(DictionaryError::Read { source, .. })
                        if keyword == "$INCLUDE-"
                            && source.kind() == std::io::ErrorKind::NotFound => {}
                    other => other?,
                }
            }
            other => return Err(error(format!("unknown keyword `{other}`"))),
        }
    }
    if vendor_block.is_some() {
        return Err(DictionaryError::Syntax {
            file: origin.to_owned(),
            line: text.lines().count(),
            message: "BEGIN-VENDOR without END-VENDOR".into(),
        });
    }
    Ok(())
}

fn parse_number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn is_flag(text: &str) -> bool {
    text.contains('=')
        || matches!(
            text,
            "has_tag" | "concat" | "array" | "virtual" | "long" | "secret"
        )
}

fn parse_type(text: &str) -> Option<AttributeType> {
    // `octets[16]` is octets of a fixed length.
    let text = match text.split_once('[') {
        Some((base, size)) if size.ends_with(']') => base,
        _ => text,
    };
    Some(match text {
        "string" => AttributeType::String,
        // `vsa` is Vendor-Specific itself, whose contents the codec splits.
        "octets" | "abinary" | "combo-ip" | "ipv4prefix" | "vsa" => AttributeType::Octets,
        "integer" => AttributeType::Integer,
        "integer64" => AttributeType::Integer64,
        "byte" => AttributeType::Byte,
        "short" => AttributeType::Short,
        "signed" => AttributeType::Signed,
        "date" => AttributeType::Date,
        "ipaddr" => AttributeType::IpAddr,
        "ipv6addr" => AttributeType::Ipv6Addr,
        "ipv6prefix" => AttributeType::Ipv6Prefix,
        "ifid" => AttributeType::InterfaceId,
        "ether" => AttributeType::Ether,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Dictionary, String> {
        let mut dictionary = Dictionary::default();
        dictionary
            .load_str(text, "dictionary.test")
            .map(|()| dictionary)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn loads_a_vendor_block() {
        let dictionary = load(
            "VENDOR Acme 9999\n\
             BEGIN-VENDOR Acme\n\
             ATTRIBUTE Acme-Speed 1 integer # bits/s\n\
             ATTRIBUTE Acme-Group 2 string\n\
             VALUE Acme-Speed Fast 100\n\
             END-VENDOR Acme\n\
             ATTRIBUTE Acme-Old 3 string Acme\n\
             ATTRIBUTE Acme-Key 4 octets[16] encrypt=2,has_tag\n",
        )
        .unwrap();
        let speed = dictionary.by_name("Acme-Speed").unwrap();
        assert_eq!(
            speed.key,
            AttributeKey {
                vendor: 9999,
                code: 1
            }
        );
        assert_eq!(speed.value_of("Fast"), Some(100));
        assert_eq!(dictionary.by_name("Acme-Old").unwrap().key.vendor, 9999);
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            (
                "ATTRIBUTE X 1\n",
                "dictionary.test:1: ATTRIBUTE needs a name, a number and a type",
            ),
            (
                "\n\nATTRIBUTE X 300 string\n",
                "dictionary.test:3: attribute number `300` is not 1..=255",
            ),
            (
                "ATTRIBUTE X 1 tlv\n",
                "dictionary.test:1: attribute type `tlv` is not supported",
            ),
            (
                "BEGIN-VENDOR Nope\n",
                "dictionary.test:1: unknown vendor `Nope`",
            ),
            (
                "ATTRIBUTE X 1 string Nope\n",
                "dictionary.test:1: unknown vendor or flag `Nope`",
            ),
            (
                "VALUE Nope A 1\n",
                "dictionary.test:1: VALUE for unknown attribute `Nope`",
            ),
            (
                "VENDOR V 1 format=2,1\n",
                "dictionary.test:1: vendor option `format=2,1` is not supported (only format=1,1)",
            ),
            (
                "VENDOR V 1\nBEGIN-VENDOR V\n",
                "dictionary.test:2: BEGIN-VENDOR without END-VENDOR",
            ),
            ("FROB x\n", "dictionary.test:1: unknown keyword `FROB`"),
        ];
        for (text, expected) in cases {
            assert_eq!(load(text).unwrap_err(), expected, "{text:?}");
        }
    }

    #[test]
    fn loads_files_with_includes_and_names_missing_ones() {
        let dir = std::env::temp_dir().join(format!("sitebox-radius-dict-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("dictionary"),
            "$INCLUDE dictionary.acme\n$INCLUDE- dictionary.none\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("dictionary.acme"),
            "VENDOR Acme 9999\nATTRIBUTE Acme-A 1 string Acme\nATTRIBUTE Acme-B x string Acme\n",
        )
        .unwrap();
        let mut dictionary = Dictionary::builtin();
        let error = dictionary.load_file(&dir.join("dictionary")).unwrap_err();
        let acme = dir.join("dictionary.acme");
        assert_eq!(
            error.to_string(),
            format!("{}:3: attribute number `x` is not 1..=255", acme.display())
        );
        std::fs::write(&acme, "VENDOR Acme 9999\nATTRIBUTE Acme-A 1 string Acme\n").unwrap();
        dictionary.load_file(&dir.join("dictionary")).unwrap();
        assert!(dictionary.by_name("Acme-A").is_some());
        let missing = dictionary.load_file(&dir.join("nope")).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with(&format!("{}: cannot read:", dir.join("nope").display()))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
