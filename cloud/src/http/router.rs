//! Routes: a method and a path pattern (`/api/v1/sites/{site}`) to a handler. Later features
//! (the live feed, payment callbacks) add their own routes with [`Router::merge`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hyper::{Method, StatusCode};

use super::{Request, Response, json};

/// A route's handler.
pub type Handler =
    Arc<dyn Fn(Request, Params) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// The path parameters of a matched route, percent-decoded.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The parameter `name` (empty when the route has none such).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

#[derive(Clone)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Clone)]
struct Route {
    method: Method,
    pattern: Vec<Segment>,
    handler: Handler,
}

/// The routing table.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .finish()
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

impl Router {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `method pattern` → `handler`; `{name}` in the pattern is a parameter.
    pub fn route<F, Fut>(mut self, method: Method, pattern: &str, handler: F) -> Self
    where
        F: Fn(Request, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let pattern = segments(pattern)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.to_string()),
                    None => Segment::Literal(s.to_string()),
                },
            )
            .collect();
        self.routes.push(Route {
            method,
            pattern,
            handler: Arc::new(move |request, params| Box::pin(handler(request, params))),
        });
        self
    }

    /// Adds every route of `other`.
    pub fn merge(mut self, other: Router) -> Self {
        self.routes.extend(other.routes);
        self
    }

    /// Dispatches `request`: 404 when no route has its path, 405 when none has its method.
    pub async fn handle(&self, request: Request) -> Response {
        let path: Vec<&str> = segments(request.uri().path()).collect();
        let mut path_matched = false;
        for route in &self.routes {
            let Some(params) = matches(&route.pattern, &path) else {
                continue;
            };
            path_matched = true;
            if route.method == request.method() {
                return (route.handler)(request, params).await;
            }
        }
        if path_matched {
            json(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": {"code": "method_not_allowed", "message": format!("{} is not allowed here", request.method())}}),
            )
        } else {
            json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"error": {"code": "not_found", "message": "no such resource"}}),
            )
        }
    }
}

fn matches(pattern: &[Segment], path: &[&str]) -> Option<Params> {
    if pattern.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (segment, part) in pattern.iter().zip(path) {
        match segment {
            Segment::Literal(literal) if literal == part => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) => params.push((name.clone(), percent_decode(part)?)),
        }
    }
    Some(Params(params))
}

/// `%XX`-decodes `text` (and `+` as a space when `plus` is set); None when the escapes are
/// broken or the result is not UTF-8.
fn decode(text: &str, plus: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A path segment, percent-decoded.
pub fn percent_decode(segment: &str) -> Option<String> {
    decode(segment, false)
}

/// The query string's `name=value` pairs, decoded; None when one is malformed.
pub fn query_pairs(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(name, true)?, decode(value, true)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_paths_and_decode_parameters() {
        let pattern = vec![
            Segment::Literal("sites".into()),
            Segment::Param("site".into()),
        ];
        let got = matches(&pattern, &["sites", "kibera%2D01"]).expect("match");
        assert_eq!(got.get("site"), "kibera-01");
        assert!(matches(&pattern, &["sites"]).is_none());
        assert!(matches(&pattern, &["site", "x"]).is_none());
        assert!(matches(&pattern, &["sites", "%zz"]).is_none());
    }

    #[test]
    fn query_strings_decode_and_refuse_broken_escapes() {
        assert_eq!(
            query_pairs("a=1&b=x+y%21&c").expect("query"),
            [
                ("a".to_string(), "1".to_string()),
                ("b".into(), "x y!".into()),
                ("c".into(), String::new())
            ]
        );
        assert_eq!(query_pairs("a=%F"), None);
        assert_eq!(query_pairs("a=%FF"), None, "not UTF-8");
    }
}
