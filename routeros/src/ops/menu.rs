//! One menu's generic verbs: print with a filter, add, set, remove, and idempotent ensure.

use crate::client::{Api, Error, Row};
use crate::codec::Command;

/// Desired properties as text, in the order they are sent.
pub type Props = Vec<(&'static str, String)>;

/// What [`Menu::ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    /// The item did not exist and was added with this id.
    Created(String),
    /// The item existed and the differing properties were set.
    Updated(String),
    /// The item existed exactly as wanted; nothing was sent.
    Unchanged(String),
}

impl Ensured {
    /// The item's `.id`.
    pub fn id(&self) -> &str {
        match self {
            Ensured::Created(id) | Ensured::Updated(id) | Ensured::Unchanged(id) => id,
        }
    }
}

/// A menu path such as `/ip/hotspot/user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Menu {
    path: &'static str,
}

impl Menu {
    /// The menu at `path`.
    pub const fn new(path: &'static str) -> Self {
        Self { path }
    }

    /// The menu path.
    pub fn path(&self) -> &'static str {
        self.path
    }

    fn command(&self, verb: &str) -> Command {
        Command::new(&format!("{}/{verb}", self.path))
    }

    /// Rows whose properties equal every `(key, value)` in `filter` (all rows for none).
    pub async fn print<A: Api>(&self, api: &A, filter: &[(&str, &str)]) -> Result<Vec<Row>, Error> {
        let codepage = api.codepage();
        let mut command = self.command("print");
        for (key, value) in filter {
            command = command.where_eq(key, codepage.encode(value));
        }
        Ok(api.run(&command).await?.rows)
    }

    /// The first row whose `key` equals `value`.
    pub async fn find<A: Api>(
        &self,
        api: &A,
        key: &str,
        value: &str,
    ) -> Result<Option<Row>, Error> {
        Ok(self.print(api, &[(key, value)]).await?.into_iter().next())
    }

    /// Adds an item; returns its new `.id`.
    pub async fn add<A: Api>(&self, api: &A, props: &Props) -> Result<String, Error> {
        let command = with_props(self.command("add"), api, props);
        api.run(&command)
            .await?
            .ret()
            .ok_or_else(|| Error::UnexpectedReply(format!("{}/add returned no id", self.path)))
    }

    /// Sets properties of the item `id` (a `*hex` id or a name).
    pub async fn set<A: Api>(&self, api: &A, id: &str, props: &Props) -> Result<(), Error> {
        let command = with_props(self.command("set").attr(".id", id), api, props);
        api.run(&command).await.map(drop)
    }

    /// Sets properties of a menu with a single item (`/system/identity`, `/radius/incoming`).
    pub async fn set_single<A: Api>(&self, api: &A, props: &Props) -> Result<(), Error> {
        let command = with_props(self.command("set"), api, props);
        api.run(&command).await.map(drop)
    }

    /// Removes the item `id`.
    pub async fn remove<A: Api>(&self, api: &A, id: &str) -> Result<(), Error> {
        api.run(&self.command("remove").attr(".id", id))
            .await
            .map(drop)
    }

    /// Removes every item whose `key` equals `value`; returns how many. Items that vanish in
    /// between (a session that ended by itself) are not an error.
    pub async fn remove_where<A: Api>(
        &self,
        api: &A,
        key: &str,
        value: &str,
    ) -> Result<usize, Error> {
        let mut removed = 0;
        for row in self.print(api, &[(key, value)]).await? {
            let Some(id) = row.id() else { continue };
            match self.remove(api, &id).await {
                Ok(()) => removed += 1,
                Err(Error::Trap(trap)) if trap.is_no_such_item() => {}
                Err(other) => return Err(other),
            }
        }
        Ok(removed)
    }

    /// Makes the item whose `key` property equals that property in `props` look like `props`:
    /// added when absent, only differing properties set when present, nothing sent when equal.
    pub async fn ensure<A: Api>(
        &self,
        api: &A,
        key: &'static str,
        props: &Props,
    ) -> Result<Ensured, Error> {
        let wanted = props
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                Error::UnexpectedReply(format!("ensure on {} needs `{key}`", self.path))
            })?;
        let existing = match self.find(api, key, &wanted).await? {
            Some(row) => row,
            None => match self.add(api, props).await {
                Ok(id) => return Ok(Ensured::Created(id)),
                // Someone added it between our print and add: converge on theirs.
                Err(Error::Trap(trap)) if trap.is_already_exists() => self
                    .find(api, key, &wanted)
                    .await?
                    .ok_or(Error::Trap(trap))?,
                Err(other) => return Err(other),
            },
        };
        let id = existing
            .id()
            .ok_or_else(|| Error::UnexpectedReply(format!("{} row without .id", self.path)))?;
        let changes: Props = props
            .iter()
            .filter(|(k, v)| !same(existing.text(k).as_deref(), v))
            .cloned()
            .collect();
        if changes.is_empty() {
            return Ok(Ensured::Unchanged(id));
        }
        self.set(api, &id, &changes).await?;
        Ok(Ensured::Updated(id))
    }
}

fn with_props<A: Api>(mut command: Command, api: &A, props: &Props) -> Command {
    let codepage = api.codepage();
    for (key, value) in props {
        command = command.attr(key, codepage.encode(value));
    }
    command
}

/// A router shows booleans as `true`/`false` but takes `yes`/`no`.
fn same(have: Option<&str>, want: &str) -> bool {
    match (have, want) {
        (Some(h), w) if h == w => true,
        (Some("true"), "yes") | (Some("false"), "no") => true,
        _ => false,
    }
}
