//! What the domain commands share: the store opened beside a running daemon, the secrets key,
//! the clock, and parsing of money, sizes and secrets typed by an operator.

use std::io::BufRead;

use anyhow::Context as _;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::config::Config;
use crate::secrets::Secrets;
use crate::store::{Opener, Store};

/// An open store with its key.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) store: Store,
    pub(crate) secrets: Secrets,
    pub(crate) runtime: tokio::runtime::Runtime,
}

impl Context {
    /// Reads the key, then (as root, with a service user) switches to that user, then opens
    /// the store: files the store makes keep the daemon's owner.
    pub(crate) fn open(config: &Config, user: Option<&str>) -> anyhow::Result<Self> {
        let secrets = super::load_secrets(config)?;
        crate::privileges::settle(user, crate::privileges::Role::Tool)?;
        let store = Store::open(&config.store, Opener::Tool)?;
        Ok(Self {
            store,
            secrets,
            runtime: super::runtime()?,
        })
    }

    pub(crate) fn now(&self) -> Timestamp {
        SystemClock.now()
    }
}

/// `50`, `50.5`, `1200.00` → minor units.
pub(crate) fn money(text: &str) -> anyhow::Result<i64> {
    let number: serde_json::Number = serde_json::from_str(text.trim())
        .map_err(|_| anyhow::anyhow!("`{text}` is not an amount (e.g. 50 or 49.50)"))?;
    crate::domain::payments::minor_units(&number)
        .ok_or_else(|| anyhow::anyhow!("`{text}` is not an amount with at most 2 decimals"))
}

/// Minor units as `50.00`.
pub(crate) fn show_money(minor: i64, currency: &str) -> String {
    format!("{}.{:02} {currency}", minor / 100, minor % 100)
}

/// `500MB`, `1GB`, `2GiB`, `1048576` → bytes.
pub(crate) fn size(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("`{text}` is not a size (e.g. 500MB, 1GB)"))?;
    let factor: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KIB" => 1024.0,
        "MIB" => 1024.0 * 1024.0,
        "GIB" => 1024.0 * 1024.0 * 1024.0,
        other => anyhow::bail!("unknown size unit `{other}` (B, KB, MB, GB, TB, KiB, MiB, GiB)"),
    };
    Ok((number * factor).round() as i64)
}

/// Bytes as `1.5 GB`.
pub(crate) fn show_size(bytes: i64) -> String {
    let b = bytes as f64;
    match bytes {
        n if n >= 1_000_000_000 => format!("{:.2} GB", b / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", b / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", b / 1e3),
        n => format!("{n} B"),
    }
}

/// A duration such as `1h30m` → seconds.
pub(crate) fn seconds(text: &str) -> anyhow::Result<i64> {
    let duration = crate::config::parse_duration(text).map_err(|e| anyhow::anyhow!(e))?;
    Ok(duration.as_secs() as i64)
}

/// A secret given on the command line, or `-` to read one line from standard input (so it
/// stays out of the process list and shell history).
pub(crate) fn secret(value: &str) -> anyhow::Result<String> {
    if value != "-" {
        return Ok(value.to_string());
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the secret from standard input")?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(!line.is_empty(), "empty secret on standard input");
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_input_is_read_in_the_units_people_write() {
        assert_eq!(money("50").expect("50"), 5000);
        assert_eq!(money("49.5").expect("49.5"), 4950);
        assert!(money("1.234").is_err());
        assert_eq!(size("500MB").expect("mb"), 500_000_000);
        assert_eq!(size("2GiB").expect("gib"), 2 * 1024 * 1024 * 1024);
        assert!(size("5 parsecs").is_err());
        assert_eq!(seconds("1h30m").expect("duration"), 5400);
        assert_eq!(show_money(5050, "KES"), "50.50 KES");
        assert_eq!(show_size(1_500_000_000), "1.50 GB");
    }
}
