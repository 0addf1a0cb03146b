//! Cursor pagination: a page of at most `limit` rows (default 100, at most 1,000) after the
//! opaque `cursor` of the previous page, which encodes the last row's sort key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Rows per page unless asked.
pub(super) const DEFAULT_LIMIT: i64 = 100;
/// Rows per page at most.
pub(super) const MAX_LIMIT: i64 = 1000;

/// The `limit` query parameter.
pub(super) fn limit(value: Option<&str>) -> Result<i64, ApiError> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be a number from 1 to {MAX_LIMIT}"
            ))),
        },
    }
}

/// Encodes a sort key as a cursor.
pub(super) fn encode<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decodes a cursor into the sort key `K` (None when there is none).
pub(super) fn decode<K: DeserializeOwned>(value: Option<&str>) -> Result<Option<K>, ApiError> {
    let Some(text) = value else { return Ok(None) };
    let bad = || ApiError::bad_request("cursor is not one this API gave out");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
}

/// A page as JSON: `{"data": rows, "next_cursor": …}`, the cursor present when the page is
/// full (`rows` holds `limit + 1` rows read; the extra one is dropped).
pub(super) fn page<T: Serialize, K: Serialize>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> K,
) -> serde_json::Value {
    let full = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next = full.then(|| rows.last().map(|r| encode(&key(r)))).flatten();
    serde_json::json!({ "data": rows, "next_cursor": next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_was_not_given_out() {
        let cursor = encode(&(5i64, "s1".to_string()));
        assert_eq!(
            decode::<(i64, String)>(Some(&cursor)).expect("ok"),
            Some((5, "s1".to_string()))
        );
        assert!(decode::<(i64, String)>(Some("!!")).is_err());
        assert!(decode::<(i64, String)>(Some(&encode(&"x"))).is_err());
        assert_eq!(decode::<i64>(None).expect("ok"), None);
        assert!(limit(Some("0")).is_err());
        assert!(limit(Some("1001")).is_err());
        assert!(limit(Some("x")).is_err());
        assert_eq!(limit(Some("7")).expect("ok"), 7);
        let p = page(vec![1, 2, 3], 2, |r| *r);
        assert_eq!(p["data"], serde_json::json!([1, 2]));
        assert_eq!(
            decode::<i64>(p["next_cursor"].as_str()).expect("ok"),
            Some(2)
        );
        assert_eq!(
            page(vec![1], 2, |r| *r)["next_cursor"],
            serde_json::Value::Null
        );
    }
}
