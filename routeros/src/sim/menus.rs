//! The menus the simulator knows, with the rules a router enforces on each: which properties
//! can be set, which must be unique, what they default to, what they must refer to.

/// How a menu holds its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Items with `*hex` ids; add/set/remove as the flags allow.
    Table { add: bool, set: bool, remove: bool },
    /// Exactly one item without an id (e.g. `/system/identity`); print and, if allowed, set.
    Singleton { set: bool },
}

/// The uniqueness rule of a table's `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unique {
    None,
    /// `name` unique in the menu; trap message when taken.
    Name(&'static str),
    /// `name` unique per `server` (hotspot users).
    NameAndServer(&'static str),
}

/// One menu's rules.
#[derive(Debug)]
pub(crate) struct MenuSpec {
    pub path: &'static str,
    pub shape: Shape,
    pub unique: Unique,
    /// Properties accepted by add/set.
    pub keys: &'static [&'static str],
    /// Properties shown as `true`/`false`; accept `yes`/`no`/`true`/`false`.
    pub booleans: &'static [&'static str],
    /// Values of properties the caller did not give.
    pub defaults: &'static [(&'static str, &'static str)],
    /// (property, menu whose item `name` it must match).
    pub references: &'static [(&'static str, &'static str)],
    /// Template for a generated `name` (`queue` gives queue1, queue2...) when add has none.
    pub auto_name: Option<&'static str>,
}

impl MenuSpec {
    pub(crate) fn is_boolean(&self, key: &str) -> bool {
        self.booleans.contains(&key)
    }
}

const TABLE: Shape = Shape::Table {
    add: true,
    set: true,
    remove: true,
};
const SESSIONS: Shape = Shape::Table {
    add: false,
    set: false,
    remove: true,
};

/// Every menu the simulator serves.
pub(crate) static MENUS: &[MenuSpec] = &[
    MenuSpec {
        path: "/ip/hotspot/user",
        shape: TABLE,
        unique: Unique::NameAndServer("failure: already have user with this name for this server"),
        keys: &[
            "name",
            "password",
            "profile",
            "server",
            "limit-uptime",
            "limit-bytes-in",
            "limit-bytes-out",
            "limit-bytes-total",
            "mac-address",
            "address",
            "comment",
            "disabled",
            "email",
            "routes",
        ],
        booleans: &["disabled"],
        defaults: &[
            ("server", "all"),
            ("profile", "default"),
            ("disabled", "false"),
            ("dynamic", "false"),
            ("uptime", "0s"),
            ("bytes-in", "0"),
            ("bytes-out", "0"),
            ("packets-in", "0"),
            ("packets-out", "0"),
        ],
        references: &[("profile", "/ip/hotspot/user/profile")],
        auto_name: None,
    },
    MenuSpec {
        path: "/ip/hotspot/user/profile",
        shape: TABLE,
        unique: Unique::Name("failure: already have such name"),
        keys: &[
            "name",
            "rate-limit",
            "shared-users",
            "session-timeout",
            "idle-timeout",
            "keepalive-timeout",
            "address-pool",
            "parent-queue",
            "on-login",
            "on-logout",
            "status-autorefresh",
            "transparent-proxy",
            "add-mac-cookie",
            "mac-cookie-timeout",
        ],
        booleans: &["transparent-proxy", "add-mac-cookie"],
        defaults: &[
            ("shared-users", "1"),
            ("idle-timeout", "none"),
            ("keepalive-timeout", "2m"),
            ("status-autorefresh", "1m"),
            ("transparent-proxy", "false"),
            ("add-mac-cookie", "true"),
            ("mac-cookie-timeout", "3d"),
        ],
        references: &[],
        auto_name: Some("profile"),
    },
    MenuSpec {
        path: "/ip/hotspot/profile",
        shape: TABLE,
        unique: Unique::Name("failure: already have such name"),
        keys: &[
            "name",
            "hotspot-address",
            "dns-name",
            "login-by",
            "use-radius",
            "radius-accounting",
            "radius-interim-update",
            "nas-port-type",
        ],
        booleans: &["use-radius", "radius-accounting"],
        defaults: &[
            ("use-radius", "false"),
            ("radius-accounting", "true"),
            ("radius-interim-update", "received"),
            ("login-by", "cookie,http-chap"),
        ],
        references: &[],
        auto_name: Some("hsprof"),
    },
    MenuSpec {
        path: "/ip/hotspot/active",
        shape: SESSIONS,
        unique: Unique::None,
        keys: &[
            "user",
            "address",
            "mac-address",
            "uptime",
            "session-time-left",
            "idle-time",
            "bytes-in",
            "bytes-out",
            "server",
            "login-by",
            "radius",
        ],
        booleans: &["radius"],
        defaults: &[
            ("server", "hotspot1"),
            ("uptime", "0s"),
            ("bytes-in", "0"),
            ("bytes-out", "0"),
        ],
        references: &[],
        auto_name: None,
    },
    MenuSpec {
        path: "/ip/hotspot/host",
        shape: SESSIONS,
        unique: Unique::None,
        keys: &[
            "mac-address",
            "address",
            "to-address",
            "server",
            "authorized",
            "bypassed",
            "comment",
        ],
        booleans: &["authorized", "bypassed"],
        defaults: &[
            ("server", "hotspot1"),
            ("authorized", "false"),
            ("bypassed", "false"),
        ],
        references: &[],
        auto_name: None,
    },
    MenuSpec {
        path: "/ppp/secret",
        shape: TABLE,
        unique: Unique::Name("failure: secret with the same name already exists"),
        keys: &[
            "name",
            "password",
            "service",
            "profile",
            "remote-address",
            "local-address",
            "caller-id",
            "routes",
            "comment",
            "disabled",
            "limit-bytes-in",
            "limit-bytes-out",
        ],
        booleans: &["disabled"],
        defaults: &[
            ("service", "any"),
            ("profile", "default"),
            ("disabled", "false"),
        ],
        references: &[("profile", "/ppp/profile")],
        auto_name: None,
    },
    MenuSpec {
        path: "/ppp/profile",
        shape: TABLE,
        unique: Unique::Name("failure: already have such name"),
        keys: &[
            "name",
            "rate-limit",
            "local-address",
            "remote-address",
            "only-one",
            "dns-server",
            "comment",
            "parent-queue",
        ],
        booleans: &[],
        defaults: &[("only-one", "default")],
        references: &[],
        auto_name: Some("profile"),
    },
    MenuSpec {
        path: "/ppp/active",
        shape: SESSIONS,
        unique: Unique::None,
        keys: &[
            "name",
            "service",
            "caller-id",
            "address",
            "uptime",
            "encoding",
            "radius",
        ],
        booleans: &["radius"],
        defaults: &[("service", "pppoe"), ("uptime", "0s"), ("radius", "false")],
        references: &[],
        auto_name: None,
    },
    MenuSpec {
        path: "/queue/simple",
        shape: TABLE,
        unique: Unique::Name("failure: already have such name"),
        keys: &[
            "name",
            "target",
            "max-limit",
            "limit-at",
            "burst-limit",
            "burst-threshold",
            "burst-time",
            "priority",
            "parent",
            "comment",
            "disabled",
        ],
        booleans: &["disabled"],
        defaults: &[
            ("max-limit", "0/0"),
            ("limit-at", "0/0"),
            ("burst-limit", "0/0"),
            ("burst-threshold", "0/0"),
            ("burst-time", "0s/0s"),
            ("priority", "8/8"),
            ("parent", "none"),
            ("disabled", "false"),
            ("dynamic", "false"),
        ],
        references: &[],
        auto_name: Some("queue"),
    },
    MenuSpec {
        path: "/interface",
        shape: Shape::Table {
            add: false,
            set: true,
            remove: false,
        },
        unique: Unique::Name("failure: already have interface with such name"),
        keys: &["name", "comment", "disabled", "mtu"],
        booleans: &["disabled", "running"],
        defaults: &[
            ("disabled", "false"),
            ("running", "true"),
            ("rx-byte", "0"),
            ("tx-byte", "0"),
        ],
        references: &[],
        auto_name: None,
    },
    MenuSpec {
        path: "/radius",
        shape: TABLE,
        unique: Unique::None,
        keys: &[
            "service",
            "address",
            "secret",
            "authentication-port",
            "accounting-port",
            "timeout",
            "src-address",
            "comment",
            "disabled",
            "called-id",
            "domain",
        ],
        booleans: &["disabled"],
        defaults: &[
            ("authentication-port", "1812"),
            ("accounting-port", "1813"),
            ("timeout", "300ms"),
            ("disabled", "false"),
        ],
        references: &[],
        auto_name: None,
    },
    MenuSpec {
        path: "/radius/incoming",
        shape: Shape::Singleton { set: true },
        unique: Unique::None,
        keys: &["accept", "port", "vrf"],
        booleans: &["accept"],
        defaults: &[("accept", "false"), ("port", "3799")],
        references: &[],
        auto_name: None,
    },
    MenuSpec {
        // RouterOS 7 `/ppp aaa`: whether PPP logins and accounting go to RADIUS.
        path: "/ppp/aaa",
        shape: Shape::Singleton { set: true },
        unique: Unique::None,
        keys: &[
            "use-radius",
            "accounting",
            "interim-update",
            "use-circuit-id-in-nas-port-id",
            "enable-ipv6-accounting",
        ],
        booleans: &[
            "use-radius",
            "accounting",
            "use-circuit-id-in-nas-port-id",
            "enable-ipv6-accounting",
        ],
        defaults: &[
            ("use-radius", "false"),
            ("accounting", "true"),
            ("interim-update", "0s"),
            ("use-circuit-id-in-nas-port-id", "false"),
            ("enable-ipv6-accounting", "false"),
        ],
        references: &[],
        auto_name: None,
    },
    MenuSpec {
        path: "/system/identity",
        shape: Shape::Singleton { set: true },
        unique: Unique::None,
        keys: &["name"],
        booleans: &[],
        defaults: &[("name", "MikroTik")],
        references: &[],
        auto_name: None,
    },
    MenuSpec {
        path: "/system/resource",
        shape: Shape::Singleton { set: false },
        unique: Unique::None,
        keys: &[],
        booleans: &[],
        defaults: &[
            ("uptime", "1d02:03:04"),
            ("cpu-load", "3"),
            ("free-memory", "912261120"),
            ("total-memory", "1073741824"),
            ("free-hdd-space", "88342528"),
            ("total-hdd-space", "134217728"),
            ("cpu-count", "2"),
            ("cpu", "QEMU"),
            ("board-name", "CHR"),
            ("architecture-name", "x86_64"),
            ("platform", "MikroTik"),
        ],
        references: &[],
        auto_name: None,
    },
];

/// The spec for a menu path.
pub(crate) fn find(path: &str) -> Option<&'static MenuSpec> {
    MENUS.iter().find(|m| m.path == path)
}
