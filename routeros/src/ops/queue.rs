//! Simple queues (per-subscriber rate limits outside the hotspot profile).

use crate::client::{Api, Error, Row};

use super::{Ensured, Menu, Props, push_opt, yes_no};

const SIMPLE: Menu = Menu::new("/queue/simple");

/// A simple queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimpleQueueSpec {
    pub name: String,
    /// Address or interface, e.g. `10.5.50.7/32`.
    pub target: Option<String>,
    /// "upload/download", e.g. `2M/10M`.
    pub max_limit: Option<String>,
    pub limit_at: Option<String>,
    pub parent: Option<String>,
    pub comment: Option<String>,
    pub disabled: Option<bool>,
}

impl SimpleQueueSpec {
    /// The properties sent to the router.
    pub fn props(&self) -> Props {
        let mut props: Props = vec![("name", self.name.clone())];
        push_opt(&mut props, "target", self.target.as_ref());
        push_opt(&mut props, "max-limit", self.max_limit.as_ref());
        push_opt(&mut props, "limit-at", self.limit_at.as_ref());
        push_opt(&mut props, "parent", self.parent.as_ref());
        push_opt(&mut props, "comment", self.comment.as_ref());
        push_opt(&mut props, "disabled", self.disabled.map(yes_no));
        props
    }
}

/// Adds the queue or brings it to `spec` (found by name).
pub async fn ensure_simple_queue<A: Api>(
    api: &A,
    spec: &SimpleQueueSpec,
) -> Result<Ensured, Error> {
    SIMPLE.ensure(api, "name", &spec.props()).await
}

/// Removes the queue `name`; `false` when there was none.
pub async fn remove_simple_queue<A: Api>(api: &A, name: &str) -> Result<bool, Error> {
    Ok(SIMPLE.remove_where(api, "name", name).await? > 0)
}

/// Every simple queue.
pub async fn simple_queues<A: Api>(api: &A) -> Result<Vec<Row>, Error> {
    SIMPLE.print(api, &[]).await
}
