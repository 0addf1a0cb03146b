//! Numbered migrations, embedded, applied in order under an advisory lock; then the service
//! role's grants and the checks that keep row-level security a wall: every table with a
//! `tenant_id` forces it, and the service role owns no table (an owner would be exempt).

use tokio_postgres::Client;

/// One numbered migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number; applied in ascending order, each once.
    pub version: i32,
    /// File name.
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:expr, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("migrations/", $name)),
        }
    };
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_registry.sql"),
    migration!(2, "0002_ingest.sql"),
    migration!(3, "0003_projections.sql"),
    migration!(4, "0004_liveness_alerts.sql"),
    migration!(5, "0005_api.sql"),
];

/// Tables with a `tenant_id` that hold no tenant's data: the sweeps' list of tenant ids.
const WITHOUT_RLS: &[&str] = &["tenant_directory"];

/// Why the schema cannot be brought up to date, or is unsafe to serve from.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The service role's name is not a plain identifier.
    #[error("`{0}` is not a valid role name (a-z, 0-9, _; 1-63 characters)")]
    BadRoleName(String),
    /// The service role could bypass row-level security.
    #[error(
        "role `{0}` is a superuser or has BYPASSRLS: row-level security would not apply to it; use an ordinary role"
    )]
    Privileged(String),
    /// The service role owns tables (row-level security is forced, but an owner can turn it off).
    #[error("role `{role}` owns {tables:?}: the service must not own what it reads")]
    Owns {
        /// The role.
        role: String,
        /// What it owns.
        tables: Vec<String>,
    },
    /// Tables with tenant data and without forced row-level security.
    #[error("tables without forced row-level security: {0:?}")]
    NotForced(Vec<String>),
    /// The database is at a schema this build does not know, or behind it.
    #[error("schema version {found}, this build needs {wanted}: run `sitebox-cloud migrate`")]
    Version {
        /// In the database.
        found: i32,
        /// This build's latest.
        wanted: i32,
    },
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Migrations applied now, by file name.
    pub applied: Vec<&'static str>,
    /// The schema version now.
    pub version: i32,
}

/// The latest version this build knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

fn valid_role(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

/// Brings the schema up to date as the connected (owner) role, then grants `app_role` what
/// the service needs and checks that row-level security binds it. Creates `app_role` (NOLOGIN)
/// when missing and the owner may create roles; an operator then gives it a login.
pub async fn migrate(client: &mut Client, app_role: &str) -> Result<Applied, MigrateError> {
    if !valid_role(app_role) {
        return Err(MigrateError::BadRoleName(app_role.to_string()));
    }
    client
        .execute("SELECT pg_advisory_lock(7265621)", &[])
        .await?;
    let result = migrate_locked(client, app_role).await;
    let _ = client
        .execute("SELECT pg_advisory_unlock(7265621)", &[])
        .await;
    result
}

async fn migrate_locked(client: &mut Client, app_role: &str) -> Result<Applied, MigrateError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version     integer PRIMARY KEY,
                 name        text NOT NULL,
                 applied_at  timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let role = client
        .query_opt(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = $1",
            &[&app_role],
        )
        .await?;
    match role {
        Some(row) if row.get::<_, bool>(0) => {
            return Err(MigrateError::Privileged(app_role.to_string()));
        }
        Some(_) => {}
        None => {
            client
                .batch_execute(&format!("CREATE ROLE {app_role} NOLOGIN NOBYPASSRLS"))
                .await?;
        }
    }
    let done: Vec<i32> = client
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut applied = Vec::new();
    for migration in MIGRATIONS {
        if done.contains(&migration.version) {
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(migration = migration.name, "migration applied");
        applied.push(migration.name);
    }
    client
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA public TO {app_role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app_role};
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app_role};
             REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM {app_role};"
        ))
        .await?;
    check_role(client, app_role).await?;
    check_forced(client).await?;
    Ok(Applied {
        applied,
        version: latest(),
    })
}

/// Fails unless `role` can neither bypass row-level security nor owns a table.
pub async fn check_role(client: &Client, role: &str) -> Result<(), MigrateError> {
    let privileged: bool = client
        .query_one(
            "SELECT coalesce((SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = $1), false)",
            &[&role],
        )
        .await?
        .get(0);
    if privileged {
        return Err(MigrateError::Privileged(role.to_string()));
    }
    let owned: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
               AND pg_get_userbyid(c.relowner) = $1 ORDER BY 1",
            &[&role],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if owned.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::Owns {
            role: role.to_string(),
            tables: owned,
        })
    }
}

/// Fails when a table with a `tenant_id` column (other than the sweeps' directory) does not
/// force row-level security or has no policy.
pub async fn check_forced(client: &Client) -> Result<(), MigrateError> {
    let bare: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
               AND NOT (c.relname = ANY($1))
               AND NOT (c.relrowsecurity AND c.relforcerowsecurity
                        AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))
             ORDER BY 1",
            &[&WITHOUT_RLS],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if bare.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::NotForced(bare))
    }
}

/// Fails unless the connected role is safe to serve from and the schema is this build's.
pub async fn check_service(client: &Client) -> Result<(), MigrateError> {
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .await?
        .get(0);
    check_role(client, &user).await?;
    let found: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    if found != latest() {
        return Err(MigrateError::Version {
            found,
            wanted: latest(),
        });
    }
    check_forced(client).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one_and_named_after_their_number() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i32::try_from(i + 1).expect("small"));
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)),
                "{}",
                m.name
            );
        }
    }

    #[test]
    fn every_table_with_a_tenant_forces_row_level_security_in_its_migration() {
        let all: String = MIGRATIONS.iter().map(|m| m.sql).collect();
        let mut checked = 0;
        for statement in all.split(';') {
            let code = statement
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            let Some(rest) = code.trim_start().strip_prefix("CREATE TABLE ") else {
                continue;
            };
            let name = rest.split_whitespace().next().expect("name");
            if !rest.contains("tenant_id") || WITHOUT_RLS.contains(&name) {
                continue;
            }
            assert!(
                all.contains(&format!("ALTER TABLE {name} FORCE ROW LEVEL SECURITY"))
                    && all.contains(&format!("CREATE POLICY tenant_isolation ON {name}")),
                "{name} has a tenant_id but no forced row-level security"
            );
            checked += 1;
        }
        assert!(checked >= 15, "only {checked} tables seen");
    }

    #[test]
    fn role_names_are_plain_identifiers() {
        assert!(valid_role("sitebox_app"));
        for bad in ["", "1app", "app; DROP TABLE events", "App", &"a".repeat(64)] {
            assert!(!valid_role(bad), "{bad}");
        }
    }
}
