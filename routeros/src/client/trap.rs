//! `!trap`: a router's refusal of one command, as a typed result.

use crate::codec::{Codepage, Reply};

/// The `=category=` of a trap. Missing means the router did not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapCategory {
    /// 0: missing item or command.
    MissingItem,
    /// 1: argument value failure.
    ArgumentValue,
    /// 2: execution of command interrupted (e.g. by `/cancel`).
    Interrupted,
    /// 3: scripting related failure.
    Scripting,
    /// 4: general failure.
    General,
    /// 5: API related failure.
    Api,
    /// 6: TTY related failure.
    Tty,
    /// 7: value generated with `:return`.
    ReturnValue,
    /// A category this code does not know.
    Other(u32),
}

impl TrapCategory {
    /// The category for a number.
    pub fn from_number(n: u32) -> Self {
        match n {
            0 => Self::MissingItem,
            1 => Self::ArgumentValue,
            2 => Self::Interrupted,
            3 => Self::Scripting,
            4 => Self::General,
            5 => Self::Api,
            6 => Self::Tty,
            7 => Self::ReturnValue,
            other => Self::Other(other),
        }
    }
}

/// A `!trap` reply: the message and category the router gave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Trap {
    /// `=message=`, decoded with the router's codepage.
    pub message: String,
    /// `=category=`, if given.
    pub category: Option<TrapCategory>,
}

impl Trap {
    /// Reads a trap reply.
    pub fn from_reply(reply: &Reply, codepage: Codepage) -> Self {
        let message = reply
            .attribute("message")
            .map(|m| codepage.decode(m).into_owned())
            .unwrap_or_default();
        let category = reply
            .attribute("category")
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse().ok())
            .map(TrapCategory::from_number);
        Self { message, category }
    }

    /// True for the "already have ..." family a router sends when a name is taken.
    pub fn is_already_exists(&self) -> bool {
        self.message.contains("already have")
    }

    /// True for "no such item".
    pub fn is_no_such_item(&self) -> bool {
        self.message.contains("no such item")
    }
}
