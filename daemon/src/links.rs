//! Links to the managed routers over the RouterOS API: one client per router, built from its
//! row (API host, port, pinned certificate, user, sealed password, codepage) and kept while
//! that row is unchanged. The client reconnects by itself; jobs never share a dead link.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sitebox_routeros::client::{ClientConfig, Fingerprint, Password, Router as ApiRouter};
use sitebox_routeros::codec::Codepage;

use crate::domain::DomainError;
use crate::domain::routers;
use crate::model::RouterId;
use crate::model::router::Router;
use crate::secrets::Secrets;
use crate::store::Store;

/// A router's client and the settings it was made from.
type Link = (String, Arc<ApiRouter>);

/// The RouterOS API clients of the site's routers.
#[derive(Debug, Clone)]
pub(crate) struct RouterLinks {
    store: Store,
    secrets: Secrets,
    links: Arc<Mutex<HashMap<RouterId, Link>>>,
    timeout: Option<Duration>,
}

impl RouterLinks {
    /// No links yet; each is made on first use.
    pub(crate) fn new(store: Store, secrets: Secrets) -> Self {
        Self {
            store,
            secrets,
            links: Arc::default(),
            timeout: None,
        }
    }

    /// Bounds connect, login and the silence between reply sentences by `timeout` (the
    /// client's own defaults otherwise): a router silent for longer is presumed hung. One
    /// connect attempt per call: the job queue retries with its own backoff, so a router that
    /// drops packets holds a worker for one `timeout`, not three.
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The API client of `router`; None when the router has no API access configured.
    pub(crate) async fn get(&self, router: &Router) -> Result<Option<Arc<ApiRouter>>, DomainError> {
        let (Some(host), Some(port), Some(user)) =
            (&router.api_host, router.api_port, &router.api_user)
        else {
            return Ok(None);
        };
        // What the link depends on: a change to any of it makes a new client.
        let key = format!(
            "{host}|{port}|{user}|{}|{:?}|{}",
            router.api_tls, router.api_fingerprint, router.codepage
        );
        if let Some((known, link)) = self
            .links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&router.id)
            && *known == key
        {
            return Ok(Some(Arc::clone(link)));
        }
        let (id, secrets) = (router.id, self.secrets.clone());
        let password = self
            .store
            .read(move |conn| routers::api_password(conn, &secrets, id))
            .await?
            .unwrap_or_default();
        let mut config =
            ClientConfig::new(host.clone(), port, user.clone(), Password::new(password));
        if router.api_tls {
            let pin = router.api_fingerprint.as_deref().ok_or_else(|| {
                DomainError::Invalid(format!(
                    "router `{}`: API-SSL needs the certificate's SHA-256 fingerprint",
                    router.name
                ))
            })?;
            let pin: Fingerprint = pin.parse().map_err(|e| {
                DomainError::Invalid(format!("router `{}`: fingerprint: {e}", router.name))
            })?;
            config.tls = Some(pin);
        }
        if let Some(codepage) = Codepage::with_fallback(&router.codepage) {
            config.codepage = codepage;
        }
        if let Some(timeout) = self.timeout {
            config.connect_timeout = timeout;
            config.login_timeout = timeout;
            config.reply_idle_timeout = timeout;
            config.reconnect.attempts = 1;
        }
        let link = Arc::new(ApiRouter::new(config));
        self.links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(router.id, (key, Arc::clone(&link)));
        Ok(Some(link))
    }
}
