//! The simulated router's configuration: one table per menu, changed the way a router does it
//! (validation, uniqueness, references, `*hex` ids), with a change feed for `listen`.

use std::collections::{BTreeMap, HashMap};

use tokio::sync::broadcast;

use super::live::Live;
use super::menus::{self, MenuSpec, Shape, Unique};
use super::query::{self, QueryWord};
use super::{RouterOsVersion, time};

/// The first version with `/radius require-message-auth` (the Blast-RADIUS fix).
pub(crate) const MESSAGE_AUTH: RouterOsVersion = RouterOsVersion::new(7, 15, 0);

/// A property list as sent in a `!re`: `.id` first when the item has one.
pub(crate) type Props = Vec<(String, Vec<u8>)>;

/// A refusal, sent as `!trap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SimTrap {
    pub message: String,
    pub category: Option<u8>,
}

impl SimTrap {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            category: None,
        }
    }

    pub(crate) fn with_category(message: impl Into<String>, category: u8) -> Self {
        Self {
            message: message.into(),
            category: Some(category),
        }
    }
}

/// An item changed, for `listen`.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub menu: &'static str,
    pub props: Props,
    pub dead: bool,
}

#[derive(Debug, Clone)]
struct Item {
    id: Option<u32>,
    props: BTreeMap<String, Vec<u8>>,
}

impl Item {
    fn get(&self, key: &str) -> Option<&[u8]> {
        self.props.get(key).map(Vec::as_slice)
    }

    fn id_text(&self) -> Option<String> {
        self.id.map(|id| format!("*{id:X}"))
    }

    fn to_props(&self) -> Props {
        let mut props: Props = Vec::with_capacity(self.props.len() + 1);
        if let Some(id) = self.id_text() {
            props.push((".id".to_owned(), id.into_bytes()));
        }
        props.extend(self.props.iter().map(|(k, v)| (k.clone(), v.clone())));
        props
    }

    fn matches(&self, query: &[QueryWord]) -> bool {
        let id = self.id_text();
        query::matches(query, |key| {
            if key == ".id" {
                id.as_deref().map(str::as_bytes)
            } else {
                self.get(key)
            }
        })
    }
}

#[derive(Debug, Default)]
struct Table {
    items: Vec<Item>,
    next_id: u32,
}

/// Every menu's items, and what the router does with them at run time ([`Live`]: sessions,
/// netwatch, the scheduler, the effects waiting to go out).
#[derive(Debug)]
pub(crate) struct RouterState {
    tables: HashMap<&'static str, Table>,
    changes: broadcast::Sender<Change>,
    version: RouterOsVersion,
    pub(crate) live: Live,
}

impl RouterState {
    /// A router as it comes out of the box, with the defaults a hotspot site starts from.
    pub(crate) fn new(version: RouterOsVersion, identity: &str) -> Self {
        let (changes, _) = broadcast::channel(1024);
        let mut state = Self {
            tables: HashMap::new(),
            changes,
            version,
            live: Live::default(),
        };
        for spec in menus::MENUS {
            state.tables.insert(spec.path, Table::default());
            if let Shape::Singleton { .. } = spec.shape {
                state.insert_raw(spec.path, &[]);
            }
        }
        state.set_version(version);
        state.force("/system/identity", "name", identity.as_bytes());
        state.insert_raw("/ip/hotspot/user/profile", &[("name", b"default")]);
        state.insert_raw("/ip/hotspot/profile", &[("name", b"default")]);
        state.insert_raw("/ppp/profile", &[("name", b"default")]);
        state.insert_raw("/ppp/profile", &[("name", b"default-encryption")]);
        for (name, kind) in [
            ("ether1", "ether"),
            ("ether2", "ether"),
            ("bridge-hotspot", "bridge"),
        ] {
            state.insert_raw(
                "/interface",
                &[
                    ("name", name.as_bytes()),
                    ("type", kind.as_bytes()),
                    ("mtu", b"1500"),
                ],
            );
        }
        state.insert_raw(
            "/ip/hotspot",
            &[("name", b"hotspot1"), ("interface", b"bridge-hotspot")],
        );
        state.insert_raw(
            "/interface/pppoe-server/server",
            &[("service-name", b"service1"), ("interface", b"ether2")],
        );
        state
    }

    /// The version the router plays.
    pub(crate) fn version(&self) -> RouterOsVersion {
        self.version
    }

    /// Shows the version in `/system/resource`.
    pub(crate) fn set_version(&mut self, version: RouterOsVersion) {
        self.version = version;
        let text = format!("{version} (stable)");
        self.force("/system/resource", "version", text.as_bytes());
    }

    fn force(&mut self, menu: &str, key: &str, value: &[u8]) {
        if let Some(item) = self.tables.get_mut(menu).and_then(|t| t.items.first_mut()) {
            item.props.insert(key.to_owned(), value.to_vec());
        }
    }

    /// A receiver of every later change.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Adds an item without validation (test seeding: active sessions, hosts, bulk users).
    /// Returns its id (empty for a singleton).
    pub(crate) fn insert_raw(&mut self, menu: &str, props: &[(&str, &[u8])]) -> String {
        let Some(spec) = menus::find(menu) else {
            return String::new();
        };
        let table = self.tables.entry(spec.path).or_default();
        let mut map: BTreeMap<String, Vec<u8>> = spec
            .defaults
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        for (key, value) in props {
            map.insert(key.to_string(), value.to_vec());
        }
        let id = match spec.shape {
            Shape::Table { .. } => {
                // Ids count from *1 in each menu, as on a router.
                table.next_id += 1;
                Some(table.next_id)
            }
            Shape::Singleton { .. } => None,
        };
        let item = Item { id, props: map };
        let text = item.id_text().unwrap_or_default();
        let _ = self.changes.send(Change {
            menu: spec.path,
            props: item.to_props(),
            dead: false,
        });
        table.items.push(item);
        text
    }

    /// The rows a print returns: matching the query, each cut to the proplist if one is given.
    pub(crate) fn print(
        &self,
        spec: &MenuSpec,
        query: &[QueryWord],
        proplist: Option<&[String]>,
    ) -> Vec<Props> {
        let table = &self.tables[spec.path];
        table
            .items
            .iter()
            .filter(|item| item.matches(query))
            .map(|item| {
                let props = item.to_props();
                match proplist {
                    Some(keep) => props
                        .into_iter()
                        .filter(|(k, _)| keep.iter().any(|p| p == k))
                        .collect(),
                    None => props,
                }
            })
            .collect()
    }

    /// `add`: returns the new `*hex` id.
    pub(crate) fn add(
        &mut self,
        spec: &'static MenuSpec,
        attrs: &[(String, Vec<u8>)],
    ) -> Result<String, SimTrap> {
        if !matches!(spec.shape, Shape::Table { add: true, .. }) {
            return Err(SimTrap::with_category("no such command", 0));
        }
        let mut props = self.validate(spec, attrs)?;
        if !props.contains_key("name") {
            if let Some(prefix) = spec.auto_name {
                let n = self.tables[spec.path].items.len() + 1;
                props.insert("name".to_owned(), format!("{prefix}{n}").into_bytes());
            } else if spec.unique != Unique::None {
                return Err(SimTrap::with_category("failure: name not specified", 1));
            }
        }
        for (key, value) in spec.defaults.iter().chain(self.version_defaults(spec)) {
            props
                .entry(key.to_string())
                .or_insert_with(|| value.as_bytes().to_vec());
        }
        self.check_unique(spec, None, &props)?;
        let pairs: Vec<(&str, &[u8])> = props
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        Ok(self.insert_raw(spec.path, &pairs))
    }

    /// `set` on the items named by `.id`/`numbers` (all of them for a singleton).
    pub(crate) fn set(
        &mut self,
        spec: &'static MenuSpec,
        ids: Option<&[u8]>,
        attrs: &[(String, Vec<u8>)],
    ) -> Result<(), SimTrap> {
        let allowed = match spec.shape {
            Shape::Table { set, .. } | Shape::Singleton { set } => set,
        };
        if !allowed {
            return Err(SimTrap::with_category("no such command", 0));
        }
        let props = self.validate(spec, attrs)?;
        let targets = match spec.shape {
            Shape::Singleton { .. } => vec![0],
            Shape::Table { .. } => self.resolve(spec, ids)?,
        };
        for &index in &targets {
            let mut merged = self.tables[spec.path].items[index].props.clone();
            merged.extend(props.clone());
            self.check_unique(spec, Some(index), &merged)?;
        }
        let table = self.tables.get_mut(spec.path).expect("menu table");
        for index in targets {
            let item = &mut table.items[index];
            item.props.extend(props.clone());
            let _ = self.changes.send(Change {
                menu: spec.path,
                props: item.to_props(),
                dead: false,
            });
        }
        Ok(())
    }

    /// `remove` of the items named by `.id`/`numbers`.
    pub(crate) fn remove(
        &mut self,
        spec: &'static MenuSpec,
        ids: Option<&[u8]>,
    ) -> Result<(), SimTrap> {
        if !matches!(spec.shape, Shape::Table { remove: true, .. }) {
            return Err(SimTrap::with_category("no such command", 0));
        }
        let mut targets = self.resolve(spec, ids)?;
        targets.sort_unstable();
        let table = self.tables.get_mut(spec.path).expect("menu table");
        for index in targets.into_iter().rev() {
            let item = table.items.remove(index);
            let _ = self.changes.send(Change {
                menu: spec.path,
                props: vec![(
                    ".id".to_owned(),
                    item.id_text().unwrap_or_default().into_bytes(),
                )],
                dead: true,
            });
        }
        Ok(())
    }

    /// Item indexes for a comma-separated list of `*hex` ids or names.
    fn resolve(&self, spec: &MenuSpec, ids: Option<&[u8]>) -> Result<Vec<usize>, SimTrap> {
        let ids = ids.ok_or_else(|| SimTrap::with_category("no such item", 1))?;
        let table = &self.tables[spec.path];
        let mut found = Vec::new();
        for one in ids.split(|&b| b == b',').filter(|s| !s.is_empty()) {
            let index = match one.strip_prefix(b"*") {
                Some(hex) => std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(|id| table.items.iter().position(|i| i.id == Some(id))),
                None => table.items.iter().position(|i| i.get("name") == Some(one)),
            };
            let index = index.ok_or_else(|| SimTrap::new("no such item"))?;
            if !found.contains(&index) {
                found.push(index);
            }
        }
        if found.is_empty() {
            return Err(SimTrap::new("no such item"));
        }
        Ok(found)
    }

    /// Defaults that depend on the version: `/radius` `timeout` is 1100ms from RouterOS 7 (300ms
    /// before) and `require-message-auth` exists from 7.15.
    fn version_defaults(&self, spec: &MenuSpec) -> &'static [(&'static str, &'static str)] {
        if spec.path != "/radius" {
            return &[];
        }
        if self.version >= MESSAGE_AUTH {
            &[
                ("timeout", "1100ms"),
                ("require-message-auth", "yes-for-request-resp"),
            ]
        } else if self.version.major >= 7 {
            &[("timeout", "1100ms")]
        } else {
            &[("timeout", "300ms")]
        }
    }

    /// Whether `key` exists in this version: `require-message-auth` from 7.15, a netwatch
    /// `type` other than `simple` from 7.4.
    fn exists_in_version(&self, spec: &MenuSpec, key: &str, value: &[u8]) -> bool {
        match (spec.path, key) {
            ("/radius", "require-message-auth") => self.version >= MESSAGE_AUTH,
            ("/tool/netwatch", "type") => {
                value == b"simple" || self.version >= RouterOsVersion::new(7, 4, 0)
            }
            _ => true,
        }
    }

    /// Checks keys and values, normalising booleans to `true`/`false`.
    fn validate(
        &self,
        spec: &MenuSpec,
        attrs: &[(String, Vec<u8>)],
    ) -> Result<BTreeMap<String, Vec<u8>>, SimTrap> {
        let mut props = BTreeMap::new();
        for (key, value) in attrs {
            if !spec.keys.contains(&key.as_str()) || !self.exists_in_version(spec, key, value) {
                return Err(SimTrap::with_category(
                    format!("unknown parameter {key}"),
                    1,
                ));
            }
            if let Some((_, allowed)) = spec.enums.iter().find(|(k, _)| k == key)
                && !allowed.iter().any(|a| a.as_bytes() == value.as_slice())
            {
                return Err(SimTrap::with_category(
                    format!("input does not match any value of {key}"),
                    1,
                ));
            }
            if let Some((_, none_ok)) = spec.times.iter().find(|(k, _)| k == key) {
                let text = std::str::from_utf8(value).unwrap_or("");
                let none = text == "none";
                if text.is_empty() || (none && !none_ok) || time::parse(text).is_none() {
                    return Err(SimTrap::with_category(
                        format!("invalid time value for argument {key}"),
                        1,
                    ));
                }
            }
            let value = if spec.is_boolean(key) {
                match value.as_slice() {
                    b"yes" | b"true" => b"true".to_vec(),
                    b"no" | b"false" => b"false".to_vec(),
                    _ => {
                        return Err(SimTrap::with_category(
                            format!("input does not match any value of {key}"),
                            1,
                        ));
                    }
                }
            } else {
                value.clone()
            };
            if let Some((_, menu)) = spec.references.iter().find(|(k, _)| k == key) {
                let exists = self.tables[menu]
                    .items
                    .iter()
                    .any(|i| i.get("name") == Some(&value));
                if !exists {
                    return Err(SimTrap::with_category(
                        format!("input does not match any value of {key}"),
                        1,
                    ));
                }
            }
            props.insert(key.clone(), value);
        }
        Ok(props)
    }

    /// Every item of a table menu with its numeric id.
    pub(crate) fn rows(
        &self,
        menu: &str,
    ) -> impl Iterator<Item = (u32, &BTreeMap<String, Vec<u8>>)> {
        self.tables
            .get(menu)
            .into_iter()
            .flat_map(|t| t.items.iter())
            .filter_map(|item| item.id.map(|id| (id, &item.props)))
    }

    /// The item `id` of a table menu.
    pub(crate) fn row(&self, menu: &str, id: u32) -> Option<&BTreeMap<String, Vec<u8>>> {
        self.tables
            .get(menu)?
            .items
            .iter()
            .find(|i| i.id == Some(id))
            .map(|i| &i.props)
    }

    /// The one item of a singleton menu (`/ppp/aaa`, `/radius/incoming`, `/system/identity`).
    pub(crate) fn single(&self, menu: &str) -> Option<&BTreeMap<String, Vec<u8>>> {
        self.tables.get(menu)?.items.first().map(|i| &i.props)
    }

    /// The item `id` to change in place without telling `listen`: the counters a router
    /// updates all the time (uptime, bytes) are not changes a listener is sent.
    pub(crate) fn row_quiet(
        &mut self,
        menu: &str,
        id: u32,
    ) -> Option<&mut BTreeMap<String, Vec<u8>>> {
        self.tables
            .get_mut(menu)?
            .items
            .iter_mut()
            .find(|i| i.id == Some(id))
            .map(|i| &mut i.props)
    }

    /// The one item of a singleton menu, changed in place without telling `listen`.
    pub(crate) fn single_quiet(&mut self, menu: &str) -> Option<&mut BTreeMap<String, Vec<u8>>> {
        self.tables
            .get_mut(menu)?
            .items
            .first_mut()
            .map(|i| &mut i.props)
    }

    /// Changes item `id` as the router does on its own (a login marks a host authorized),
    /// telling `listen`. False when there is no such item.
    pub(crate) fn update(
        &mut self,
        menu: &str,
        id: u32,
        change: impl FnOnce(&mut BTreeMap<String, Vec<u8>>),
    ) -> bool {
        let Some(spec) = menus::find(menu) else {
            return false;
        };
        let Some(item) = self
            .tables
            .get_mut(spec.path)
            .and_then(|t| t.items.iter_mut().find(|i| i.id == Some(id)))
        else {
            return false;
        };
        change(&mut item.props);
        let _ = self.changes.send(Change {
            menu: spec.path,
            props: item.to_props(),
            dead: false,
        });
        true
    }

    /// Removes item `id` as the router does on its own (a session ends). False when absent.
    pub(crate) fn remove_id(&mut self, menu: &str, id: u32) -> bool {
        let Some(spec) = menus::find(menu) else {
            return false;
        };
        let Some(table) = self.tables.get_mut(spec.path) else {
            return false;
        };
        let Some(index) = table.items.iter().position(|i| i.id == Some(id)) else {
            return false;
        };
        let item = table.items.remove(index);
        let _ = self.changes.send(Change {
            menu: spec.path,
            props: vec![(
                ".id".to_owned(),
                item.id_text().unwrap_or_default().into_bytes(),
            )],
            dead: true,
        });
        true
    }

    /// The numeric ids named by `.id`/`numbers` (a comma list of `*hex` ids or names).
    pub(crate) fn resolve_ids(
        &self,
        spec: &MenuSpec,
        ids: Option<&[u8]>,
    ) -> Result<Vec<u32>, SimTrap> {
        let table = &self.tables[spec.path];
        Ok(self
            .resolve(spec, ids)?
            .into_iter()
            .filter_map(|index| table.items[index].id)
            .collect())
    }

    fn check_unique(
        &self,
        spec: &MenuSpec,
        except: Option<usize>,
        props: &BTreeMap<String, Vec<u8>>,
    ) -> Result<(), SimTrap> {
        let name = props.get("name");
        let clash = |message: &str, same_scope: &dyn Fn(&Item) -> bool| {
            let taken = self.tables[spec.path]
                .items
                .iter()
                .enumerate()
                .any(|(i, item)| {
                    Some(i) != except && item.props.get("name") == name && same_scope(item)
                });
            if taken {
                Err(SimTrap::new(message))
            } else {
                Ok(())
            }
        };
        match spec.unique {
            Unique::None => Ok(()),
            Unique::Name(message) => clash(message, &|_| true),
            Unique::NameAndServer(message) => {
                let server = props.get("server");
                // A user for `all` servers clashes with the same name on any server.
                clash(message, &|item| {
                    let other = item.props.get("server");
                    other == server
                        || other.map(Vec::as_slice) == Some(b"all")
                        || server.map(Vec::as_slice) == Some(b"all")
                })
            }
        }
    }
}
