//! `voucher_batches` (`VouchersGenerated`: a batch, its plan and size; the codes themselves
//! stay at the site and in the command's result) and `vouchers` (`VoucherRedeemed`: each code
//! sold, with the subscriber and subscription it became).

use std::collections::HashMap;

use serde::Deserialize;

use super::{Decoded, Event, Projection, keep_first};
use crate::db::{Db, DbError};
use crate::notify::Topic;

pub(crate) struct VoucherBatches;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Generated {
    batch: String,
    plan: Option<String>,
    count: Option<i64>,
}

/// The batch and its site time, from the first event naming it.
pub(crate) type BatchRow = (i64, (Generated, i64));

impl Projection for VoucherBatches {
    const NAME: &'static str = "voucher_batches";
    const TOPIC: Topic = Topic::Vouchers;
    type Key = String;
    type Change = Generated;
    type Row = BatchRow;

    fn change(event: &Event<'_>) -> Option<Decoded<String, Generated>> {
        (event.kind == "VouchersGenerated")
            .then(|| event.decode::<Generated>().map(|g| (g.batch.clone(), g)))
    }

    fn fold(row: Option<BatchRow>, change: Generated, event: &Event<'_>) -> BatchRow {
        keep_first(row, (event.seq, (change, event.occurred_at)))
    }

    async fn load(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        keys: &[String],
    ) -> Result<HashMap<String, BatchRow>, DbError> {
        let rows = tx
            .query(
                "SELECT batch, plan, count, generated_site, seq FROM voucher_batches
                 WHERE tenant_id = $1 AND site_id = $2 AND batch = ANY($3)",
                &[&tenant, &site, &keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let batch: String = r.get(0);
                let generated = Generated {
                    batch: batch.clone(),
                    plan: r.get(1),
                    count: r.get(2),
                };
                (
                    batch,
                    (
                        r.get(4),
                        (generated, r.get::<_, Option<i64>>(3).unwrap_or(0)),
                    ),
                )
            })
            .collect())
    }

    async fn store(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        rows: Vec<(String, BatchRow)>,
    ) -> Result<(), DbError> {
        let mut batch = Vec::new();
        let mut plan = Vec::new();
        let mut count = Vec::new();
        let mut at = Vec::new();
        let mut seq = Vec::new();
        for (key, (s, (generated, site_at))) in rows {
            batch.push(key);
            plan.push(generated.plan);
            count.push(generated.count);
            at.push(site_at);
            seq.push(s);
        }
        tx.execute(
            "INSERT INTO voucher_batches (tenant_id, site_id, batch, plan, count, generated_site, seq)
             SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[],
                                          $7::bigint[])
             ON CONFLICT (tenant_id, site_id, batch) DO UPDATE SET plan = excluded.plan,
                 count = excluded.count, generated_site = excluded.generated_site,
                 seq = excluded.seq",
            &[&tenant, &site, &batch, &plan, &count, &at, &seq],
        )
        .await?;
        Ok(())
    }
}

pub(crate) struct Vouchers;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Redeemed {
    voucher_id: Option<i64>,
    code: String,
    batch: Option<String>,
    plan: Option<String>,
    subscriber_id: Option<i64>,
    subscription_id: Option<i64>,
}

/// The redemption and its site time, from the first event naming the code.
pub(crate) type VoucherRow = (i64, (Redeemed, i64));

impl Projection for Vouchers {
    const NAME: &'static str = "vouchers";
    const TOPIC: Topic = Topic::Vouchers;
    type Key = String;
    type Change = Redeemed;
    type Row = VoucherRow;

    fn change(event: &Event<'_>) -> Option<Decoded<String, Redeemed>> {
        (event.kind == "VoucherRedeemed")
            .then(|| event.decode::<Redeemed>().map(|r| (r.code.clone(), r)))
    }

    fn fold(row: Option<VoucherRow>, change: Redeemed, event: &Event<'_>) -> VoucherRow {
        keep_first(row, (event.seq, (change, event.occurred_at)))
    }

    async fn load(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        keys: &[String],
    ) -> Result<HashMap<String, VoucherRow>, DbError> {
        let rows = tx
            .query(
                "SELECT code, voucher_id, batch, plan, subscriber_id, subscription_id,
                        redeemed_site, seq
                 FROM vouchers WHERE tenant_id = $1 AND site_id = $2 AND code = ANY($3)",
                &[&tenant, &site, &keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let code: String = r.get(0);
                let redeemed = Redeemed {
                    voucher_id: r.get(1),
                    code: code.clone(),
                    batch: r.get(2),
                    plan: r.get(3),
                    subscriber_id: r.get(4),
                    subscription_id: r.get(5),
                };
                (
                    code,
                    (
                        r.get(7),
                        (redeemed, r.get::<_, Option<i64>>(6).unwrap_or(0)),
                    ),
                )
            })
            .collect())
    }

    async fn store(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        rows: Vec<(String, VoucherRow)>,
    ) -> Result<(), DbError> {
        let n = rows.len();
        let mut code = Vec::with_capacity(n);
        let mut voucher_id = Vec::with_capacity(n);
        let mut batch = Vec::with_capacity(n);
        let mut plan = Vec::with_capacity(n);
        let mut subscriber = Vec::with_capacity(n);
        let mut subscription = Vec::with_capacity(n);
        let mut at = Vec::with_capacity(n);
        let mut seq = Vec::with_capacity(n);
        for (key, (s, (r, site_at))) in rows {
            code.push(key);
            voucher_id.push(r.voucher_id);
            batch.push(r.batch);
            plan.push(r.plan);
            subscriber.push(r.subscriber_id);
            subscription.push(r.subscription_id);
            at.push(site_at);
            seq.push(s);
        }
        tx.execute(
            "INSERT INTO vouchers (tenant_id, site_id, code, voucher_id, batch, plan,
                 subscriber_id, subscription_id, redeemed_site, seq)
             SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::text[], $6::text[],
                 $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
             ON CONFLICT (tenant_id, site_id, code) DO UPDATE SET
                 voucher_id = excluded.voucher_id, batch = excluded.batch, plan = excluded.plan,
                 subscriber_id = excluded.subscriber_id,
                 subscription_id = excluded.subscription_id,
                 redeemed_site = excluded.redeemed_site, seq = excluded.seq",
            &[
                &tenant,
                &site,
                &code,
                &voucher_id,
                &batch,
                &plan,
                &subscriber,
                &subscription,
                &at,
                &seq,
            ],
        )
        .await?;
        Ok(())
    }
}
