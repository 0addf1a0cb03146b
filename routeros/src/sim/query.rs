//! Print queries: `?` words form a little stack program evaluated against each item.
//!
//! `?name=x` / `?=name=x` push "equal", `?>name=x` / `?<name=x` push "greater"/"less" (numeric
//! when both sides are integers), `?name` pushes "has the property", `?-name` "lacks it", and
//! `?#` runs operators: `|` or, `&` and, `!` not, `.` dup, a digit pushes a copy of the value
//! that many places below the top. The empty stack yields `true` for every pop. At the end the
//! item matches when every value left on the stack is true.

/// One parsed query word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueryWord {
    Has(String),
    Lacks(String),
    Eq(String, Vec<u8>),
    Gt(String, Vec<u8>),
    Lt(String, Vec<u8>),
    Ops(Vec<u8>),
}

impl QueryWord {
    /// Parses a word starting with `?`; `None` for anything else.
    pub(crate) fn parse(word: &[u8]) -> Option<Self> {
        let rest = word.strip_prefix(b"?")?;
        let key_value = |body: &[u8]| -> (String, Vec<u8>) {
            match body.iter().position(|&b| b == b'=') {
                Some(at) => (
                    String::from_utf8_lossy(&body[..at]).into_owned(),
                    body[at + 1..].to_vec(),
                ),
                None => (String::from_utf8_lossy(body).into_owned(), Vec::new()),
            }
        };
        Some(match rest.first() {
            Some(b'#') => Self::Ops(rest[1..].to_vec()),
            Some(b'>') => {
                let (k, v) = key_value(&rest[1..]);
                Self::Gt(k, v)
            }
            Some(b'<') => {
                let (k, v) = key_value(&rest[1..]);
                Self::Lt(k, v)
            }
            Some(b'-') => Self::Lacks(String::from_utf8_lossy(&rest[1..]).into_owned()),
            Some(b'=') => {
                let (k, v) = key_value(&rest[1..]);
                Self::Eq(k, v)
            }
            _ if rest.contains(&b'=') => {
                let (k, v) = key_value(rest);
                Self::Eq(k, v)
            }
            _ => Self::Has(String::from_utf8_lossy(rest).into_owned()),
        })
    }
}

/// True when the item (read through `get`) satisfies the query program.
pub(crate) fn matches<'a>(query: &[QueryWord], get: impl Fn(&str) -> Option<&'a [u8]>) -> bool {
    let mut stack: Vec<bool> = Vec::new();
    for word in query {
        match word {
            QueryWord::Has(key) => stack.push(get(key).is_some()),
            QueryWord::Lacks(key) => stack.push(get(key).is_none()),
            QueryWord::Eq(key, value) => {
                stack.push(get(key).is_some_and(|have| same_value(have, value)))
            }
            QueryWord::Gt(key, value) => stack.push(
                get(key).is_some_and(|have| compare(have, value) == std::cmp::Ordering::Greater),
            ),
            QueryWord::Lt(key, value) => stack.push(
                get(key).is_some_and(|have| compare(have, value) == std::cmp::Ordering::Less),
            ),
            QueryWord::Ops(ops) => {
                for op in ops {
                    match op {
                        b'|' => {
                            let (b, a) = (pop(&mut stack), pop(&mut stack));
                            stack.push(a || b);
                        }
                        b'&' => {
                            let (b, a) = (pop(&mut stack), pop(&mut stack));
                            stack.push(a && b);
                        }
                        b'!' => {
                            let a = pop(&mut stack);
                            stack.push(!a);
                        }
                        b'.' => {
                            let top = stack.last().copied().unwrap_or(true);
                            stack.push(top);
                        }
                        digit @ b'0'..=b'9' => {
                            let below = usize::from(digit - b'0');
                            let value = stack
                                .len()
                                .checked_sub(below + 1)
                                .map(|i| stack[i])
                                .unwrap_or(true);
                            stack.push(value);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    stack.iter().all(|v| *v)
}

fn pop(stack: &mut Vec<bool>) -> bool {
    stack.pop().unwrap_or(true)
}

/// Values compare as the router shows them; `yes`/`no` in a query match `true`/`false`.
fn same_value(have: &[u8], want: &[u8]) -> bool {
    have == want || matches!((have, want), (b"true", b"yes") | (b"false", b"no"))
}

fn compare(have: &[u8], want: &[u8]) -> std::cmp::Ordering {
    let number = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<i128>().ok();
    match (number(have), number(want)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => have.cmp(want),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(words: &[&str], item: &[(&str, &str)], expect: bool) {
        let query: Vec<QueryWord> = words
            .iter()
            .map(|w| QueryWord::parse(w.as_bytes()).unwrap())
            .collect();
        let get = |key: &str| {
            item.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.as_bytes())
        };
        assert_eq!(matches(&query, get), expect, "{words:?} on {item:?}");
    }

    #[test]
    fn evaluates_the_stack_program() {
        let ether = [("name", "ether1"), ("type", "ether"), ("mtu", "1500")];
        let vlan = [("name", "vlan9"), ("type", "vlan"), ("comment", "x")];
        check(&[], &ether, true);
        check(&["?type=ether"], &ether, true);
        check(&["?=type=ether"], &vlan, false);
        check(&["?type=ether", "?type=vlan", "?#|"], &vlan, true);
        check(
            &["?type=ether", "?type=vlan", "?#|"],
            &[("type", "wlan")],
            false,
        );
        check(&["?type=ether", "?#!"], &vlan, true);
        check(&["?comment"], &vlan, true);
        check(&["?-comment"], &vlan, false);
        check(&["?>mtu=999"], &ether, true);
        check(&["?<mtu=999"], &ether, false);
        check(&["?>mtu=999"], &vlan, false);
        check(&["?type=ether", "?name=ether1", "?#&"], &ether, true);
        check(&["?type=vlan", "?#."], &ether, false);
        check(&["?disabled=no"], &[("disabled", "false")], true);
    }
}
