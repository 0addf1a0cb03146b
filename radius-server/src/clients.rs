//! The client table: which NASes may talk to us, with their shared secrets and Message-Authenticator
//! policy. Looked up by source IP; the daemon can replace entries while the server runs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use crate::secret::Secret;

/// One NAS (a MikroTik router).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    name: String,
    secret: Secret,
    require_message_authenticator: bool,
}

/// A client that cannot be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("client {0}: the shared secret is empty")]
    EmptySecret(String),
}

impl Client {
    /// A client that must sign every Access-Request with a Message-Authenticator.
    pub fn new(name: impl Into<String>, secret: Secret) -> Result<Self, ClientError> {
        let name = name.into();
        if secret.is_empty() {
            return Err(ClientError::EmptySecret(name));
        }
        Ok(Self {
            name,
            secret,
            require_message_authenticator: true,
        })
    }

    /// Accepts Access-Requests without Message-Authenticator from this client. This reopens the
    /// Blast-RADIUS forgery (CVE-2024-3596) for it: only for old RouterOS that cannot sign.
    /// Status-Server always needs one.
    pub fn allow_missing_message_authenticator(mut self) -> Self {
        self.require_message_authenticator = false;
        self
    }

    /// The name used in logs and counters.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared secret.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Whether Access-Requests must carry a Message-Authenticator.
    pub fn requires_message_authenticator(&self) -> bool {
        self.require_message_authenticator
    }
}

/// The table of clients by source IP. Share it as `Arc<Clients>`.
#[derive(Debug, Default)]
pub struct Clients {
    table: RwLock<Arc<HashMap<IpAddr, Arc<Client>>>>,
}

impl Clients {
    /// An empty table (every packet is dropped as from an unknown client).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the client at an address.
    pub fn insert(&self, address: IpAddr, client: Client) {
        self.update(|table| {
            table.insert(address, Arc::new(client));
        });
    }

    /// Removes the client at an address.
    pub fn remove(&self, address: IpAddr) {
        self.update(|table| {
            table.remove(&address);
        });
    }

    /// Replaces the whole table at once.
    pub fn replace(&self, clients: impl IntoIterator<Item = (IpAddr, Client)>) {
        let table = clients
            .into_iter()
            .map(|(address, client)| (address, Arc::new(client)))
            .collect();
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
    }

    /// The client at an address.
    pub fn get(&self, address: IpAddr) -> Option<Arc<Client>> {
        let address = canonical(address);
        self.table
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&address)
            .cloned()
    }

    fn update(&self, change: impl FnOnce(&mut HashMap<IpAddr, Arc<Client>>)) {
        let mut guard = self.table.write().unwrap_or_else(|e| e.into_inner());
        let mut table = HashMap::clone(&guard);
        change(&mut table);
        *guard = Arc::new(table);
    }
}

/// IPv4 clients seen through a dual-stack socket arrive as `::ffff:a.b.c.d`.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_by_address_including_mapped_ipv4() {
        let clients = Clients::new();
        let address: IpAddr = "10.0.0.1".parse().unwrap();
        clients.insert(address, Client::new("r1", Secret::from("s")).unwrap());
        assert_eq!(clients.get(address).unwrap().name(), "r1");
        assert_eq!(
            clients
                .get("::ffff:10.0.0.1".parse().unwrap())
                .unwrap()
                .name(),
            "r1"
        );
        assert!(clients.get("10.0.0.2".parse().unwrap()).is_none());
        clients.remove(address);
        assert!(clients.get(address).is_none());
        assert_eq!(
            Client::new("r2", Secret::from("")),
            Err(ClientError::EmptySecret("r2".into()))
        );
    }
}
