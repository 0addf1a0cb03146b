//! The router's RADIUS client entries (pointing at this box) and incoming CoA/Disconnect.

use crate::client::{Api, Error, Password, Row};

use super::{Ensured, Menu, Props, push_opt, yes_no};

const RADIUS: Menu = Menu::new("/radius");
const INCOMING: Menu = Menu::new("/radius/incoming");

/// A `/radius` entry: which services ask which server with which secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusClientSpec {
    /// The RADIUS server's address (this box); the entry's key.
    pub address: String,
    /// e.g. `hotspot,ppp`.
    pub service: String,
    pub secret: Password,
    pub authentication_port: Option<u16>,
    pub accounting_port: Option<u16>,
    /// e.g. `3s`.
    pub timeout: Option<String>,
    pub comment: Option<String>,
}

impl RadiusClientSpec {
    /// The properties sent to the router.
    pub fn props(&self) -> Props {
        let mut props: Props = vec![
            ("address", self.address.clone()),
            ("service", self.service.clone()),
            ("secret", self.secret.expose().to_owned()),
        ];
        push_opt(&mut props, "authentication-port", self.authentication_port);
        push_opt(&mut props, "accounting-port", self.accounting_port);
        push_opt(&mut props, "timeout", self.timeout.as_ref());
        push_opt(&mut props, "comment", self.comment.as_ref());
        props
    }
}

/// Adds the entry for `spec.address` or brings it to `spec`.
pub async fn ensure_radius_client<A: Api>(
    api: &A,
    spec: &RadiusClientSpec,
) -> Result<Ensured, Error> {
    RADIUS.ensure(api, "address", &spec.props()).await
}

/// Every `/radius` entry.
pub async fn radius_clients<A: Api>(api: &A) -> Result<Vec<Row>, Error> {
    RADIUS.print(api, &[]).await
}

/// `/radius/incoming set accept=… port=…`: lets the box send Disconnect/CoA to the router.
pub async fn set_radius_incoming<A: Api>(api: &A, accept: bool, port: u16) -> Result<(), Error> {
    let mut props: Props = vec![("accept", yes_no(accept).to_owned())];
    push_opt(&mut props, "port", Some(port));
    INCOMING.set_single(api, &props).await
}
