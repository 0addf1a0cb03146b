//! Runs parsed scripts against the router's state (under its lock: a script is quick and sees
//! a consistent router, as on RouterOS where a script's commands are applied one by one).

use std::collections::HashMap;
use std::time::Duration;

use super::parse::{self, ArgOp, BinOp, Expr, Line, Part, Word};
use super::{ScriptError, ScriptRun, Value};
use crate::sim::Inner;
use crate::sim::live::{self, prop};
use crate::sim::menus::{self, MENUS, MenuSpec, Shape};
use crate::sim::state::{RouterState, SimTrap};
use crate::sim::time;

/// Commands run by one script (loops included) before it is stopped.
const MAX_STEPS: u64 = 200_000;
/// `/system script run` nesting.
const MAX_NESTING: usize = 8;

/// What started a script, for the run journal.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// A netwatch entry's `up-script`, `down-script` or `test-script`.
    Netwatch(u32, &'static str),
    /// A scheduler entry's `on-event`.
    Scheduler(String),
    /// `/system script run` from the API.
    Api,
    /// A test through the handle.
    Test,
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Self::Netwatch(id, which) => format!("netwatch *{id:X} {which}"),
            Self::Scheduler(name) => format!("scheduler {name}"),
            Self::Api => "api".to_owned(),
            Self::Test => "test".to_owned(),
        }
    }
}

type Result<T> = std::result::Result<T, ScriptError>;

fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(ScriptError::Failed(message.into()))
}

fn trap(trap: SimTrap) -> ScriptError {
    ScriptError::Failed(trap.message)
}

/// Runs `source` with `policy`; the run is journaled and a failure logged as the router does.
pub(crate) fn run_source(
    inner: &Inner,
    state: &mut RouterState,
    now: i64,
    source: &str,
    policy: &[String],
    origin: &Origin,
) -> Result<Value> {
    run(inner, state, now, source, policy, origin.describe(), 0)
}

/// `/system script run NAME` with the caller's `policy`.
pub(crate) fn run_script_named(
    inner: &Inner,
    state: &mut RouterState,
    now: i64,
    name: &str,
    policy: &[String],
    origin: &Origin,
) -> Result<Value> {
    run_named(inner, state, now, name, policy, &origin.describe(), 0)
}

fn run(
    inner: &Inner,
    state: &mut RouterState,
    now: i64,
    source: &str,
    policy: &[String],
    origin: String,
    nesting: usize,
) -> Result<Value> {
    let result = parse::parse(source)
        .map_err(ScriptError::from)
        .and_then(|lines| {
            let mut env = Env {
                inner,
                state: &mut *state,
                now,
                policy: policy.to_vec(),
                scopes: Vec::new(),
                menu: None,
                steps: 0,
                nesting,
            };
            env.block(&lines)
        });
    if let Err(error) = &result {
        log(state, now, "script,error", &format!("{origin}: {error}"));
    }
    inner
        .script_runs
        .lock()
        .expect("script runs")
        .push(ScriptRun {
            origin,
            at_ms: now,
            error: result.as_ref().err().map(ToString::to_string),
        });
    result
}

fn run_named(
    inner: &Inner,
    state: &mut RouterState,
    now: i64,
    name: &str,
    policy: &[String],
    caller: &str,
    nesting: usize,
) -> Result<Value> {
    if nesting >= MAX_NESTING {
        return fail("scripts call each other too deep");
    }
    let Some((id, script)) = state
        .rows("/system/script")
        .find(|(_, p)| prop(p, "name") == name)
        .map(|(id, p)| (id, p.clone()))
    else {
        return fail(format!("no such script {name}"));
    };
    let wanted = prop(&script, "policy");
    let allowed = prop(&script, "dont-require-permissions") == "true"
        || wanted
            .split(',')
            .filter(|p| !p.is_empty())
            .all(|p| policy.iter().any(|have| have == p));
    if !allowed {
        let message = format!("not enough permissions to run script {name} (policy {wanted})");
        log(state, now, "script,error", &format!("{caller}: {message}"));
        return fail(message);
    }
    state.update("/system/script", id, |p| {
        let runs = live::number(p, "run-count") + 1;
        p.insert("run-count".into(), runs.to_string().into_bytes());
    });
    let source = prop(&script, "source").to_owned();
    run(
        inner,
        state,
        now,
        &source,
        policy,
        format!("script {name}"),
        nesting + 1,
    )
}

/// Adds a `/log` entry.
pub(crate) fn log(state: &mut RouterState, now: i64, topics: &str, message: &str) {
    let when = civil(now);
    state.insert_raw(
        "/log",
        &[
            ("time", when.as_bytes()),
            ("topics", topics.as_bytes()),
            ("message", message.as_bytes()),
        ],
    );
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for ms since the epoch.
pub(crate) fn civil(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

struct Env<'a> {
    inner: &'a Inner,
    state: &'a mut RouterState,
    now: i64,
    policy: Vec<String>,
    scopes: Vec<HashMap<String, Value>>,
    menu: Option<&'static MenuSpec>,
    steps: u64,
    nesting: usize,
}

fn named<'w>(words: &'w [Word], key: &str) -> Option<&'w Word> {
    words.iter().find_map(|w| match w {
        Word::Arg {
            key: k,
            op: ArgOp::Eq,
            value,
        } if k == key => Some(&**value),
        _ => None,
    })
}

fn block_of<'w>(words: &'w [Word], key: &str) -> Result<Option<&'w [Line]>> {
    match named(words, key) {
        None => Ok(None),
        Some(Word::Block(lines)) => Ok(Some(lines)),
        Some(_) => fail(format!("{key}= takes a {{ block }}")),
    }
}

fn bare_name(word: Option<&Word>) -> Result<String> {
    match word {
        Some(Word::Bare(name)) if !name.is_empty() => Ok(name.clone()),
        _ => fail("expected a variable name"),
    }
}

/// A literal in an expression: `true`/`false`, a number, an id, a time, else a string.
fn literal(text: &str) -> Value {
    match text {
        "true" | "yes" => return Value::Bool(true),
        "false" | "no" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(n) = text.parse::<i64>() {
        return Value::Num(n);
    }
    if let Some(id) = live::parse_id(text) {
        return Value::Id(id);
    }
    let looks_like_time = text.chars().any(|c| c.is_ascii_alphabetic() || c == ':')
        && text.starts_with(|c: char| c.is_ascii_digit());
    if looks_like_time && let Some(t) = time::parse(text) {
        return Value::Time(t);
    }
    Value::Str(text.to_owned())
}

/// Properties shown as times or numbers (beyond the menu's own time properties).
const TIME_PROPERTIES: &[&str] = &["uptime", "session-time-left", "idle-time", "since"];
const NUMBER_PROPERTIES: &[&str] = &[
    "run-count",
    "shared-users",
    "done-tests",
    "failed-tests",
    "port",
    "authentication-port",
    "accounting-port",
    "cpu-load",
    "free-memory",
    "total-memory",
];

/// A property's value with its RouterOS type.
fn typed(spec: &MenuSpec, key: &str, raw: &str) -> Value {
    if key == ".id" {
        return live::parse_id(raw).map_or(Value::Nil, Value::Id);
    }
    if spec.is_boolean(key) {
        return Value::Bool(raw == "true");
    }
    if (TIME_PROPERTIES.contains(&key) || spec.times.iter().any(|(k, _)| *k == key))
        && let Some(t) = time::parse(raw)
    {
        return Value::Time(t);
    }
    let numeric = NUMBER_PROPERTIES.contains(&key)
        || ["bytes-", "limit-bytes-", "packets-"]
            .iter()
            .any(|p| key.starts_with(p));
    if numeric && let Ok(n) = raw.parse() {
        return Value::Num(n);
    }
    Value::Str(raw.to_owned())
}

fn regex(pattern: &str) -> Result<regex::Regex> {
    regex::Regex::new(pattern).or_else(|error| fail(format!("bad regular expression: {error}")))
}

fn menu_prefix(path: &str) -> bool {
    MENUS
        .iter()
        .any(|m| m.path == path || m.path.starts_with(&format!("{path}/")))
}

impl Env<'_> {
    fn step(&mut self) -> Result<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return fail("script ran too long");
        }
        Ok(())
    }

    fn block(&mut self, lines: &[Line]) -> Result<Value> {
        self.scopes.push(HashMap::new());
        let menu = self.menu;
        let result = self.lines(lines);
        self.menu = menu;
        self.scopes.pop();
        result
    }

    fn lines(&mut self, lines: &[Line]) -> Result<Value> {
        let mut last = Value::Nil;
        for line in lines {
            last = self.line(line)?;
        }
        Ok(last)
    }

    fn line(&mut self, words: &[Word]) -> Result<Value> {
        self.step()?;
        let Some(first) = words.first() else {
            return Ok(Value::Nil);
        };
        match first {
            Word::Bare(word) if word.starts_with(':') => self.builtin(&word[1..], &words[1..]),
            Word::Bare(word) if word.starts_with('/') => self.path_command(words),
            Word::Bare(verb) => match self.menu {
                Some(spec) => self.verb(spec, verb, &words[1..]),
                None => fail(format!("bad command name {verb}")),
            },
            Word::Block(lines) if words.len() == 1 => self.block(lines),
            other if words.len() == 1 => self.eval(other),
            _ => fail("expected a command"),
        }
    }

    fn lookup(&self, name: &str) -> Result<Value> {
        for scope in self.scopes.iter().rev() {
            if let Some(value) = scope.get(name) {
                return Ok(value.clone());
            }
        }
        match self.state.live.globals.get(name) {
            Some(value) => Ok(value.clone()),
            None => fail(format!("no such variable {name}")),
        }
    }

    fn assign(&mut self, name: &str, value: Value) -> Result<()> {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(name) {
                *slot = value;
                return Ok(());
            }
        }
        match self.state.live.globals.get_mut(name) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => fail(format!("no such variable {name}")),
        }
    }

    fn eval(&mut self, word: &Word) -> Result<Value> {
        match word {
            Word::Bare(text) => Ok(literal(text)),
            Word::Str(parts) => Ok(Value::Str(self.string(parts)?)),
            Word::Var(name) => self.lookup(name),
            Word::Sub(lines) => self.block(lines),
            Word::Group(expr) => self.expr(expr),
            Word::Block(_) => fail("a { block } is not a value"),
            Word::Arg { key, .. } => fail(format!("unexpected argument {key}")),
        }
    }

    /// An argument's value: bare text stays text exactly as written (passwords, MACs).
    fn argument(&mut self, word: &Word) -> Result<Value> {
        match word {
            Word::Bare(text) => Ok(Value::Str(text.clone())),
            other => self.eval(other),
        }
    }

    fn string(&mut self, parts: &[Part]) -> Result<String> {
        let mut out = String::new();
        for part in parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(name) => out.push_str(&self.lookup(name)?.to_text()),
                Part::Sub(lines) => out.push_str(&self.block(lines)?.to_text()),
                Part::Group(expr) => out.push_str(&self.expr(expr)?.to_text()),
            }
        }
        Ok(out)
    }

    fn truth(&mut self, expr: &Expr) -> Result<bool> {
        match self.expr(expr)? {
            Value::Bool(b) => Ok(b),
            other => fail(format!("expected true or false, got {}", other.type_name())),
        }
    }

    fn expr(&mut self, expr: &Expr) -> Result<Value> {
        self.step()?;
        match expr {
            Expr::Atom(word) => self.eval(word),
            Expr::Not(inner) => Ok(Value::Bool(!self.truth(inner)?)),
            Expr::Neg(inner) => match self.expr(inner)? {
                Value::Num(n) => Ok(Value::Num(-n)),
                other => fail(format!("cannot negate {}", other.type_name())),
            },
            Expr::Bin(BinOp::And, a, b) => Ok(Value::Bool(self.truth(a)? && self.truth(b)?)),
            Expr::Bin(BinOp::Or, a, b) => Ok(Value::Bool(self.truth(a)? || self.truth(b)?)),
            Expr::Bin(op, a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                binary(*op, a, b)
            }
        }
    }

    fn builtin(&mut self, name: &str, words: &[Word]) -> Result<Value> {
        match name {
            "local" | "global" => {
                let var = bare_name(words.first())?;
                let value = match words.get(1) {
                    Some(word) => self.eval(word)?,
                    // `:global x` declares x; a value it already has stays.
                    None if name == "global" => {
                        self.state.live.globals.entry(var).or_insert(Value::Nil);
                        return Ok(Value::Nil);
                    }
                    None => Value::Nil,
                };
                if name == "global" {
                    self.state.live.globals.insert(var, value);
                } else if let Some(scope) = self.scopes.last_mut() {
                    scope.insert(var, value);
                }
                Ok(Value::Nil)
            }
            "set" => {
                let var = bare_name(words.first())?;
                let value = match words.get(1) {
                    Some(word) => self.eval(word)?,
                    None => Value::Nil,
                };
                self.assign(&var, value)?;
                Ok(Value::Nil)
            }
            "if" => {
                let Some(Word::Group(condition)) = words.first() else {
                    return fail(":if needs a (condition)");
                };
                let then = block_of(words, "do")?.unwrap_or_default();
                let otherwise = block_of(words, "else")?;
                if self.truth(condition)? {
                    self.block(then)
                } else if let Some(otherwise) = otherwise {
                    self.block(otherwise)
                } else {
                    Ok(Value::Nil)
                }
            }
            "foreach" => {
                let var = bare_name(words.first())?;
                let Some(list) = named(words, "in") else {
                    return fail(":foreach needs in=");
                };
                let items = match self.argument(list)? {
                    Value::Array(items) => items,
                    Value::Nil => Vec::new(),
                    one => vec![one],
                };
                let body = block_of(words, "do")?.unwrap_or_default();
                for item in items {
                    self.scopes.push(HashMap::from([(var.clone(), item)]));
                    let result = self.block(body);
                    self.scopes.pop();
                    result?;
                }
                Ok(Value::Nil)
            }
            "for" => {
                let var = bare_name(words.first())?;
                let number = |env: &mut Self, key: &str, default: Option<i64>| -> Result<i64> {
                    match named(words, key) {
                        Some(word) => match env.eval(word)? {
                            Value::Num(n) => Ok(n),
                            other => fail(format!(
                                "{key}= must be a number, not {}",
                                other.type_name()
                            )),
                        },
                        None => default.map_or_else(|| fail(format!(":for needs {key}=")), Ok),
                    }
                };
                let (from, to) = (number(self, "from", None)?, number(self, "to", None)?);
                let step = number(self, "step", Some(if to >= from { 1 } else { -1 }))?;
                if step == 0 {
                    return fail(":for step=0");
                }
                let body = block_of(words, "do")?.unwrap_or_default();
                let mut i = from;
                while (step > 0 && i <= to) || (step < 0 && i >= to) {
                    self.step()?;
                    self.scopes
                        .push(HashMap::from([(var.clone(), Value::Num(i))]));
                    let result = self.block(body);
                    self.scopes.pop();
                    result?;
                    i += step;
                }
                Ok(Value::Nil)
            }
            "while" => {
                let Some(Word::Group(condition)) = words.first() else {
                    return fail(":while needs a (condition)");
                };
                let body = block_of(words, "do")?.unwrap_or_default();
                while self.truth(condition)? {
                    self.block(body)?;
                }
                Ok(Value::Nil)
            }
            "log" => {
                let level = bare_name(words.first())?;
                if !matches!(level.as_str(), "info" | "warning" | "error" | "debug") {
                    return fail(format!(":log {level} is not a level"));
                }
                let message = match words.get(1) {
                    Some(word) => self.eval(word)?.to_text(),
                    None => String::new(),
                };
                log(self.state, self.now, &format!("script,{level}"), &message);
                Ok(Value::Nil)
            }
            "put" => {
                let text = match words.first() {
                    Some(word) => self.eval(word)?.to_text(),
                    None => String::new(),
                };
                log(self.state, self.now, "script,put", &text);
                Ok(Value::Nil)
            }
            "error" => {
                let message = match words.first() {
                    Some(word) => self.eval(word)?.to_text(),
                    None => "error".to_owned(),
                };
                fail(message)
            }
            "delay" => Ok(Value::Nil),
            // RouterOS 7.12+: the time since the epoch on the router's clock.
            "timestamp" => Ok(Value::Time(Duration::from_millis(
                u64::try_from(self.now).unwrap_or(0),
            ))),
            "len" => Ok(Value::Num(match self.operand(words, 0)? {
                Value::Nil => 0,
                Value::Array(items) => items.len() as i64,
                other => other.to_text().chars().count() as i64,
            })),
            "pick" => {
                let value = self.operand(words, 0)?;
                let start = self.index(words, 1)?.unwrap_or(0);
                let end = self.index(words, 2)?;
                Ok(match value {
                    Value::Array(items) => {
                        let end = end.unwrap_or(start + 1).min(items.len());
                        match items.get(start..end.max(start)) {
                            Some([one]) if single(words) => one.clone(),
                            Some(slice) => Value::Array(slice.to_vec()),
                            None => Value::Nil,
                        }
                    }
                    other => {
                        let text: Vec<char> = other.to_text().chars().collect();
                        let end = end.unwrap_or(start + 1).min(text.len());
                        Value::Str(
                            text.get(start..end.max(start))
                                .unwrap_or_default()
                                .iter()
                                .collect(),
                        )
                    }
                })
            }
            "find" => {
                let haystack = self.operand(words, 0)?;
                let needle = self.operand(words, 1)?;
                let from = self.index(words, 2)?.map_or(0, |i| i + 1);
                Ok(match haystack {
                    Value::Array(items) => items
                        .iter()
                        .skip(from)
                        .position(|item| *item == needle)
                        .map_or(Value::Nil, |i| Value::Num((i + from) as i64)),
                    other => {
                        let text: Vec<char> = other.to_text().chars().collect();
                        let needle: Vec<char> = needle.to_text().chars().collect();
                        (from..text.len())
                            .find(|&i| text[i..].starts_with(&needle))
                            .map_or(Value::Nil, |i| Value::Num(i as i64))
                    }
                })
            }
            "tostr" => Ok(Value::Str(self.operand(words, 0)?.to_text())),
            "tonum" => Ok(match self.operand(words, 0)? {
                Value::Num(n) => Value::Num(n),
                Value::Time(t) => Value::Num(t.as_secs() as i64),
                Value::Bool(b) => Value::Num(i64::from(b)),
                other => other
                    .to_text()
                    .trim()
                    .parse()
                    .map_or(Value::Nil, Value::Num),
            }),
            "totime" => Ok(match self.operand(words, 0)? {
                Value::Time(t) => Value::Time(t),
                Value::Num(n) => Value::Time(Duration::from_secs(n.max(0) as u64)),
                other => time::parse(&other.to_text()).map_or(Value::Nil, Value::Time),
            }),
            "typeof" => Ok(Value::Str(
                match self.operand(words, 0)? {
                    Value::Nil => "nil",
                    Value::Bool(_) => "bool",
                    Value::Num(_) => "num",
                    Value::Str(_) => "str",
                    Value::Time(_) => "time",
                    Value::Id(_) => "id",
                    Value::Array(_) => "array",
                }
                .to_owned(),
            )),
            other => fail(format!(
                "bad command name :{other} (not in the simulator's subset)"
            )),
        }
    }

    fn operand(&mut self, words: &[Word], at: usize) -> Result<Value> {
        match words.get(at) {
            Some(word) => self.eval(word),
            None => Ok(Value::Nil),
        }
    }

    fn index(&mut self, words: &[Word], at: usize) -> Result<Option<usize>> {
        match words.get(at) {
            None => Ok(None),
            Some(word) => match self.eval(word)? {
                Value::Num(n) => Ok(Some(n.max(0) as usize)),
                other => fail(format!("expected a number, got {}", other.type_name())),
            },
        }
    }

    /// `/a b c verb args` or `/a/b/c/verb args`.
    fn path_command(&mut self, words: &[Word]) -> Result<Value> {
        let Some(Word::Bare(first)) = words.first() else {
            return fail("expected a menu path");
        };
        let mut segments: Vec<String> = first
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut next = 1;
        while let Some(Word::Bare(word)) = words.get(next) {
            let candidate = format!("/{}/{word}", segments.join("/"));
            if word.starts_with(':') || !menu_prefix(&candidate) {
                break;
            }
            segments.push(word.clone());
            next += 1;
        }
        // The longest leading part that is a menu; one segment after it is the verb.
        let mut spec = None;
        let mut verb = None;
        for split in (1..=segments.len()).rev() {
            if let Some(found) = menus::find(&format!("/{}", segments[..split].join("/"))) {
                match &segments[split..] {
                    [] => {}
                    [one] => verb = Some(one.clone()),
                    _ => return fail(format!("bad command name /{}", segments.join("/"))),
                }
                spec = Some(found);
                break;
            }
        }
        let Some(spec) = spec else {
            return fail(format!("no such menu /{}", segments.join("/")));
        };
        let verb = match verb {
            Some(verb) => Some(verb),
            None => match words.get(next) {
                Some(Word::Bare(verb)) => {
                    next += 1;
                    Some(verb.clone())
                }
                _ => None,
            },
        };
        match (verb, words.get(next)) {
            (Some(verb), _) => self.verb(spec, &verb, &words[next..]),
            (None, Some(Word::Block(lines))) => {
                let outer = self.menu;
                self.menu = Some(spec);
                let result = self.block(lines);
                self.menu = outer;
                result
            }
            (None, None) => {
                self.menu = Some(spec);
                Ok(Value::Nil)
            }
            (None, Some(_)) => fail("expected a command after the menu path"),
        }
    }

    fn require(&self, policy: &str) -> Result<()> {
        if self.policy.iter().any(|p| p == policy) {
            Ok(())
        } else {
            fail(format!("not enough permissions (needs {policy})"))
        }
    }

    /// A target as `.id`/`numbers` text: ids, a list of ids, or a name. `None` for an empty list.
    fn target(&mut self, word: &Word) -> Result<Option<String>> {
        Ok(match self.argument(word)? {
            Value::Array(items) if items.is_empty() => None,
            Value::Array(items) => Some(
                items
                    .iter()
                    .map(Value::to_text)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Value::Nil => None,
            Value::Num(_) => return fail("print numbers are not supported: use [find ...]"),
            other => Some(other.to_text()),
        })
    }

    fn verb(&mut self, spec: &'static MenuSpec, verb: &str, args: &[Word]) -> Result<Value> {
        let outer = self.menu;
        self.menu = Some(spec);
        let result = self.verb_in(spec, verb, args);
        self.menu = outer;
        result
    }

    fn verb_in(&mut self, spec: &'static MenuSpec, verb: &str, args: &[Word]) -> Result<Value> {
        let positional: Vec<&Word> = args
            .iter()
            .filter(|w| !matches!(w, Word::Arg { .. }))
            .collect();
        let properties = |env: &mut Self| -> Result<Vec<(String, Vec<u8>)>> {
            let mut out = Vec::new();
            for word in args {
                if let Word::Arg { key, op, value } = word {
                    if *op != ArgOp::Eq {
                        return fail(format!("unexpected {key}{op:?}"));
                    }
                    if key != "numbers" {
                        out.push((key.clone(), env.argument(value)?.to_text().into_bytes()));
                    }
                }
            }
            Ok(out)
        };
        match verb {
            "add" => {
                self.require("write")?;
                let props = properties(self)?;
                let id = self.state.add(spec, &props).map_err(trap)?;
                Ok(live::parse_id(&id).map_or(Value::Nil, Value::Id))
            }
            "set" | "enable" | "disable" | "remove" | "reset-counters" => {
                self.require("write")?;
                let target = match named(args, "numbers").or(positional.first().copied()) {
                    Some(word) => self.target(word)?,
                    None if matches!(spec.shape, Shape::Singleton { .. }) => Some(String::new()),
                    None => return fail(format!("{verb} needs an item")),
                };
                let Some(target) = target else {
                    return Ok(Value::Nil);
                };
                let ids = Some(target.as_bytes());
                let now = self.now;
                match verb {
                    "set" => {
                        let props = properties(self)?;
                        self.state.set(spec, ids, &props)
                    }
                    "enable" | "disable" => {
                        let value = if verb == "disable" { "yes" } else { "no" };
                        self.state
                            .set(spec, ids, &[("disabled".to_owned(), value.into())])
                    }
                    "remove" => live::remove(self.inner, self.state, spec, ids, now),
                    _ if spec.path == "/ip/hotspot/user" => {
                        live::reset_counters(self.state, spec, ids)
                    }
                    _ => Err(SimTrap::new("no such command")),
                }
                .map_err(trap)?;
                Ok(Value::Nil)
            }
            "find" => {
                self.require("read")?;
                Ok(Value::Array(
                    self.find(spec, args)?.into_iter().map(Value::Id).collect(),
                ))
            }
            "print" => {
                self.require("read")?;
                let counting = positional
                    .iter()
                    .any(|w| matches!(w, Word::Bare(b) if b == "count-only"));
                if counting {
                    Ok(Value::Num(self.find(spec, args)?.len() as i64))
                } else {
                    Ok(Value::Nil)
                }
            }
            "get" => {
                self.require("read")?;
                live::refresh(self.state, self.now);
                let (props, key) = if let Shape::Singleton { .. } = spec.shape {
                    let Some(props) = self.state.single(spec.path).cloned() else {
                        return fail("no such item");
                    };
                    (props, positional.first().copied())
                } else {
                    let Some(target) = positional.first() else {
                        return fail("get needs an item");
                    };
                    let target = self.target(target)?.unwrap_or_default();
                    let ids = self
                        .state
                        .resolve_ids(spec, Some(target.as_bytes()))
                        .map_err(trap)?;
                    let [id] = ids.as_slice() else {
                        return fail("get needs exactly one item");
                    };
                    let props = self.state.row(spec.path, *id).cloned().unwrap_or_default();
                    let mut props = props;
                    props.insert(".id".into(), format!("*{id:X}").into_bytes());
                    (props, positional.get(1).copied())
                };
                let Some(Word::Bare(key)) = key else {
                    return fail("get needs a property name");
                };
                Ok(match props.get(key) {
                    Some(raw) => typed(spec, key, &String::from_utf8_lossy(raw)),
                    None => Value::Nil,
                })
            }
            "run" if spec.path == "/system/script" => {
                let Some(word) = named(args, "number").or(positional.first().copied()) else {
                    return fail("run needs a script name");
                };
                let name = self.argument(word)?.to_text();
                let policy = self.policy.clone();
                run_named(
                    self.inner,
                    self.state,
                    self.now,
                    &name,
                    &policy,
                    "script",
                    self.nesting + 1,
                )
            }
            other => fail(format!("no such command {other} in {}", spec.path)),
        }
    }

    /// The ids of the items matching `find`'s filters.
    fn find(&mut self, spec: &'static MenuSpec, args: &[Word]) -> Result<Vec<u32>> {
        enum Filter {
            Flag(String, bool),
            Compare(String, ArgOp, String),
        }
        let mut filters = Vec::new();
        for word in args {
            match word {
                Word::Bare(w) if w == "where" || w == "and" || w == "count-only" => {}
                Word::Bare(w) => match w.strip_prefix('!') {
                    Some(key) => filters.push(Filter::Flag(key.to_owned(), false)),
                    None => filters.push(Filter::Flag(w.clone(), true)),
                },
                Word::Arg { key, op, value } => {
                    let value = self.argument(value)?.to_text();
                    filters.push(Filter::Compare(key.clone(), *op, value));
                }
                _ => return fail("find takes key=value, key~regex, key!=value, key, !key"),
            }
        }
        let mut compiled = HashMap::new();
        for filter in &filters {
            if let Filter::Compare(_, ArgOp::Match, pattern) = filter {
                compiled.insert(pattern.clone(), regex(pattern)?);
            }
        }
        live::refresh(self.state, self.now);
        let same = |have: &str, want: &str| {
            have == want
                || matches!(
                    (have, want),
                    ("true", "yes") | ("false", "no") | ("true", "true") | ("false", "false")
                )
        };
        Ok(self
            .state
            .rows(spec.path)
            .filter(|(_, props)| {
                filters.iter().all(|filter| match filter {
                    Filter::Flag(key, want) => (prop(props, key) == "true") == *want,
                    Filter::Compare(key, ArgOp::Eq, value) => same(prop(props, key), value),
                    Filter::Compare(key, ArgOp::Ne, value) => !same(prop(props, key), value),
                    Filter::Compare(key, ArgOp::Match, pattern) => compiled
                        .get(pattern)
                        .is_some_and(|re| re.is_match(prop(props, key))),
                })
            })
            .map(|(id, _)| id)
            .collect())
    }
}

/// `:pick list n` (one index) gives the element itself.
fn single(words: &[Word]) -> bool {
    words.len() == 2
}

fn binary(op: BinOp, a: Value, b: Value) -> Result<Value> {
    use Value::{Num, Str, Time};
    let ordering = |a: &Value, b: &Value| -> Result<std::cmp::Ordering> {
        match (a, b) {
            (Num(x), Num(y)) => Ok(x.cmp(y)),
            (Time(x), Time(y)) => Ok(x.cmp(y)),
            (Str(x), Str(y)) => Ok(x.cmp(y)),
            _ => fail(format!(
                "cannot compare {} with {}",
                a.type_name(),
                b.type_name()
            )),
        }
    };
    Ok(match op {
        BinOp::Eq => Value::Bool(equal(&a, &b)),
        BinOp::Ne => Value::Bool(!equal(&a, &b)),
        BinOp::Lt => Value::Bool(ordering(&a, &b)?.is_lt()),
        BinOp::Gt => Value::Bool(ordering(&a, &b)?.is_gt()),
        BinOp::Le => Value::Bool(ordering(&a, &b)?.is_le()),
        BinOp::Ge => Value::Bool(ordering(&a, &b)?.is_ge()),
        BinOp::Match => Value::Bool(regex(&b.to_text())?.is_match(&a.to_text())),
        BinOp::Concat => Str(format!("{}{}", a.to_text(), b.to_text())),
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => arithmetic(op, a, b)?,
        BinOp::And | BinOp::Or => unreachable!("short-circuited by the caller"),
    })
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Id(x), Value::Str(s)) | (Value::Str(s), Value::Id(x)) => {
            live::parse_id(s) == Some(*x)
        }
        _ => a == b,
    }
}

fn arithmetic(op: BinOp, a: Value, b: Value) -> Result<Value> {
    use Value::{Num, Time};
    let millis = |t: Duration| i64::try_from(t.as_millis()).unwrap_or(i64::MAX);
    let time = |ms: i64| Time(Duration::from_millis(ms.max(0) as u64));
    Ok(match (op, &a, &b) {
        (BinOp::Add, Num(x), Num(y)) => Num(x.saturating_add(*y)),
        (BinOp::Sub, Num(x), Num(y)) => Num(x.saturating_sub(*y)),
        (BinOp::Mul, Num(x), Num(y)) => Num(x.saturating_mul(*y)),
        (BinOp::Div, Num(_), Num(0)) => return fail("division by zero"),
        (BinOp::Div, Num(x), Num(y)) => Num(x / y),
        (BinOp::Add, Time(x), Time(y)) => time(millis(*x).saturating_add(millis(*y))),
        (BinOp::Sub, Time(x), Time(y)) => time(millis(*x).saturating_sub(millis(*y))),
        (BinOp::Mul, Time(x), Num(n)) | (BinOp::Mul, Num(n), Time(x)) => {
            time(millis(*x).saturating_mul(*n))
        }
        (BinOp::Div, Time(_), Num(0)) => return fail("division by zero"),
        (BinOp::Div, Time(x), Num(n)) => time(millis(*x) / n),
        _ => {
            return fail(format!(
                "cannot do {op:?} on {} and {}",
                a.type_name(),
                b.type_name()
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_time_of_known_instants() {
        assert_eq!(civil(0), "1970-01-01 00:00:00");
        assert_eq!(civil(1_750_000_000_000), "2025-06-15 15:06:40");
        assert_eq!(civil(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn literals_take_their_routeros_types() {
        assert_eq!(literal("42"), Value::Num(42));
        assert_eq!(literal("1h30m"), Value::Time(Duration::from_secs(5400)));
        assert_eq!(literal("00:05:00"), Value::Time(Duration::from_secs(300)));
        assert_eq!(literal("*1F"), Value::Id(31));
        assert_eq!(literal("yes"), Value::Bool(true));
        assert_eq!(
            literal("AA:BB:CC:00:00:01"),
            Value::Str("AA:BB:CC:00:00:01".into())
        );
        assert_eq!(literal("sitebox"), Value::Str("sitebox".into()));
    }

    #[test]
    fn arithmetic_and_comparison() {
        let t = |s| Value::Time(Duration::from_secs(s));
        assert_eq!(binary(BinOp::Sub, t(90), t(30)).unwrap(), t(60));
        assert_eq!(binary(BinOp::Mul, t(60), Value::Num(3)).unwrap(), t(180));
        assert_eq!(binary(BinOp::Lt, t(1), t(2)).unwrap(), Value::Bool(true));
        assert!(binary(BinOp::Lt, t(1), Value::Num(2)).is_err());
        assert_eq!(
            binary(BinOp::Concat, Value::Str("a".into()), Value::Num(1)).unwrap(),
            Value::Str("a1".into())
        );
        assert!(binary(BinOp::Div, Value::Num(1), Value::Num(0)).is_err());
    }
}
