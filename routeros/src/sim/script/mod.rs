//! A small, documented subset of the RouterOS scripting language, run by the simulator for
//! `/system script run`, netwatch `up-script`/`down-script`/`test-script` and scheduler
//! `on-event`. What is in it (anything else is a script error, never silently skipped):
//!
//! - Menu commands in CLI form: `/ip hotspot user add name=x password=y`, or with slashes
//!   (`/ip/hotspot/user/add`); a line with a path alone (or a path and a `{ block }`) sets the
//!   menu for the commands that follow without one. Verbs: `add` (returns the new id), `set`,
//!   `remove`, `enable`, `disable` (target: an id, a list of ids, a name, or `numbers=`),
//!   `find` with `k=v`, `k!=v`, `k~"regex"`, `k` / `!k` (booleans) and an optional `where`,
//!   `get <target> <property>`, `print count-only [where ...]`, `reset-counters`, and
//!   `/system script run <name>`.
//! - `:local n v`, `:global n v`, `:set n v`, `:if (c) do={} else={}`, `:foreach x in=l do={}`,
//!   `:for i from=a to=b [step=s] do={}`, `:while (c) do={}`, `:log info|warning|error|debug m`,
//!   `:put v`, `:error m`, `:delay t` (ignored: the script does not wait), `:len`, `:pick`,
//!   `:find`, `:tostr`, `:tonum`, `:totime`, `:typeof`, `:timestamp` (the time since the epoch
//!   on the router's clock; `:tonum` of a time is its whole seconds).
//! - Values: strings with `$var`, `$(expr)` and `$[cmd]` inside, numbers, times (`1h30m`,
//!   `00:05:00`), `yes`/`no`/`true`/`false`, ids (`*1F`), arrays (what `find` returns).
//!   Expressions in `( )`: `= != < > <= >= ~ . + - * / && || !`, `and`, `or`.
//! - Permissions: a script runs with a policy (netwatch: `read,write,test,reboot`); writing
//!   needs `write`, reading needs `read`, and `/system script run` of a script whose policy is
//!   not within the caller's is refused unless it has `dont-require-permissions=yes`.

mod eval;
mod parse;

use std::time::Duration;

pub use parse::ParseError;

pub(crate) use eval::{Origin, civil, run_script_named, run_source};

/// A script value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Nothing (an unset variable, a `find` of a property that is absent).
    Nil,
    /// `true`/`false`.
    Bool(bool),
    /// A number.
    Num(i64),
    /// A string.
    Str(String),
    /// A time.
    Time(Duration),
    /// An item id (`*1F`).
    Id(u32),
    /// A list (what `find` returns).
    Array(Vec<Value>),
}

impl Value {
    /// The value as a command argument takes it.
    pub fn to_text(&self) -> String {
        match self {
            Self::Nil => String::new(),
            Self::Bool(true) => "true".to_owned(),
            Self::Bool(false) => "false".to_owned(),
            Self::Num(n) => n.to_string(),
            Self::Str(s) => s.clone(),
            Self::Time(t) => super::time::format(*t),
            Self::Id(id) => format!("*{id:X}"),
            Self::Array(items) => items
                .iter()
                .map(Value::to_text)
                .collect::<Vec<_>>()
                .join(";"),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Self::Nil => "nil",
            Self::Bool(_) => "bool",
            Self::Num(_) => "num",
            Self::Str(_) => "str",
            Self::Time(_) => "time",
            Self::Id(_) => "id",
            Self::Array(_) => "array",
        }
    }
}

/// Why a script stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// It does not parse.
    #[error(transparent)]
    Syntax(#[from] ParseError),
    /// It failed while running (a refused command, an unknown variable, `:error`, a type).
    #[error("{0}")]
    Failed(String),
}

/// One script run, as a test reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRun {
    /// What ran it and what it was: `netwatch *1 down-script`, `scheduler sitebox`,
    /// `script sitebox-fallback-up`, `test`.
    pub origin: String,
    /// On the router's clock.
    pub at_ms: i64,
    /// `None` when it ran to the end.
    pub error: Option<String>,
}
