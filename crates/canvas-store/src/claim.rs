//! Claiming work: organizations take turns (fewest running runs first, none
//! beyond its share of the workers), and so do the accounts within one; a
//! run whose worker died is taken over once its lease expired. Claims use
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serializes writers, which
//! gives the same guarantee. The partial unique index `runs_one_running`
//! keeps two runs of one workflow from executing at once.

use crate::model::ClaimedRun;
use crate::model::RunLease;
use crate::tx::with_tx;
use crate::{Result, Store, StoreError, StoreTx, with_db};
use canvas_domain::time::Timestamp;
use canvas_domain::workflow::WorkflowStatus;
use uuid::Uuid;

/// A run `r` whose workflow has no older active run and no live one; `$now`
/// names the parameter holding the current time.
macro_rules! unblocked {
    ($now:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM runs o WHERE o.workflow_id = r.workflow_id AND o.id <> r.id \
               AND o.status IN ('Queued', 'Running') \
               AND (o.date_queued < r.date_queued OR (o.status = 'Running' AND o.lease_expires_at >= ",
            $now,
            ")))"
        )
    };
}

/// What a claim sets: `$1` the new owner, `$2` its lease's expiry, `$3` now.
macro_rules! claim_update {
    () => {
        "UPDATE runs SET status = 'Running', lease_owner = $1, lease_expires_at = $2, \
         attempt = attempt + 1, date_started = COALESCE(date_started, $3) "
    };
}

/// Claims the oldest unblocked queued run of organization `$4` (and, with
/// `$account`, of account `$6`), while the organization has fewer than `$5`
/// runs on live leases (the `runs_queued_by_org` and `runs_running_by_org`
/// indexes serve both).
macro_rules! claim_in_org_sql {
    ($lock:literal, $account:literal) => {
        concat!(
            claim_update!(),
            "WHERE id = (SELECT r.id FROM runs r WHERE r.status = 'Queued' AND r.organization_id = $4 ",
            $account,
            " AND ",
            unblocked!("$3"),
            " AND (SELECT COUNT(*) FROM runs c WHERE c.status = 'Running' AND c.organization_id = $4 \
               AND c.lease_expires_at >= $3) < $5",
            " ORDER BY r.date_queued LIMIT 1 ",
            $lock,
            ") RETURNING id, workflow_id, run_from, run_till, attempt"
        )
    };
}

/// The claim's statements in one dialect.
struct ClaimSql {
    /// Taken first: the organization's row, so concurrent claims for one
    /// organization cannot both take its last place (SQLite has one writer).
    lock_organization: Option<&'static str>,
    /// A queued run of the chosen account (`$6`).
    of_account: &'static str,
    /// A queued run of any account of the organization.
    of_organization: &'static str,
}

impl ClaimSql {
    const SQLITE: Self = Self {
        lock_organization: None,
        of_account: claim_in_org_sql!("", "AND r.account_id = $6"),
        of_organization: claim_in_org_sql!("", ""),
    };
    const POSTGRES: Self = Self {
        lock_organization: Some("SELECT id FROM organizations WHERE id = $1 FOR UPDATE"),
        of_account: claim_in_org_sql!("FOR UPDATE SKIP LOCKED", "AND r.account_id = $6"),
        of_organization: claim_in_org_sql!("FOR UPDATE SKIP LOCKED", ""),
    };
}

/// Organizations with queued runs, the one to serve first first: fewest runs
/// on live leases (`$1` now), then the one whose last run started longest
/// ago (so organizations at the same load take turns), then the oldest
/// queued run; only those under `$2` running. The organizations are found by
/// skipping through the `runs_queued_by_org` index (one seek each, however
/// many runs wait).
const FAIR_ORGANIZATIONS_SQL: &str = "WITH RECURSIVE orgs(o) AS ( \
       SELECT (SELECT organization_id FROM runs WHERE status = 'Queued' AND organization_id IS NOT NULL \
               ORDER BY organization_id LIMIT 1) \
       UNION ALL \
       SELECT (SELECT organization_id FROM runs WHERE status = 'Queued' AND organization_id > o \
               ORDER BY organization_id LIMIT 1) FROM orgs WHERE o IS NOT NULL), \
     load AS (SELECT o, \
       (SELECT COUNT(*) FROM runs x WHERE x.status = 'Running' AND x.organization_id = o \
        AND x.lease_expires_at >= $1) AS running, \
       (SELECT MAX(z.date_started) FROM runs z WHERE z.organization_id = o) AS served, \
       (SELECT MIN(y.date_queued) FROM runs y WHERE y.status = 'Queued' AND y.organization_id = o) AS oldest \
       FROM orgs WHERE o IS NOT NULL) \
     SELECT o FROM load WHERE running < $2 ORDER BY running, served NULLS FIRST, oldest LIMIT 16";

/// The oldest run on an expired lease (its worker died), with the lease's holder.
const EXPIRED_CANDIDATE_SQL: &str = concat!(
    "SELECT r.id, COALESCE(r.lease_owner, '') AS lease_owner FROM runs r WHERE r.status = 'Running' AND r.lease_expires_at < $1 AND ",
    unblocked!("$1"),
    " ORDER BY r.date_queued LIMIT 1"
);

/// Takes over run `$4` if it is still on the expired lease of `$5`: a
/// compare-and-set, so of two workers that found the same run one wins.
const TAKE_OVER_SQL: &str = concat!(
    claim_update!(),
    "WHERE id = $4 AND status = 'Running' AND lease_expires_at < $3 AND COALESCE(lease_owner, '') = $5 \
     RETURNING id, workflow_id, run_from, run_till, attempt"
);

/// The accounts of organization `$1` with queued runs, the one to serve
/// first first: fewest runs on live leases (`$2` now), then the one whose
/// last run started longest ago, then the oldest queued run — found, like
/// the organizations, by skipping through an index.
const FAIR_ACCOUNTS_SQL: &str = "WITH RECURSIVE accts(a) AS ( \
       SELECT (SELECT account_id FROM runs WHERE status = 'Queued' AND organization_id = $1 \
               AND account_id IS NOT NULL ORDER BY account_id LIMIT 1) \
       UNION ALL \
       SELECT (SELECT account_id FROM runs WHERE status = 'Queued' AND organization_id = $1 \
               AND account_id > a ORDER BY account_id LIMIT 1) FROM accts WHERE a IS NOT NULL), \
     load AS (SELECT a, \
       (SELECT COUNT(*) FROM runs x WHERE x.status = 'Running' AND x.organization_id = $1 \
        AND x.account_id = a AND x.lease_expires_at >= $2) AS running, \
       (SELECT MAX(z.date_started) FROM runs z WHERE z.account_id = a) AS served, \
       (SELECT MIN(y.date_queued) FROM runs y WHERE y.status = 'Queued' AND y.organization_id = $1 \
        AND y.account_id = a) AS oldest \
       FROM accts WHERE a IS NOT NULL) \
     SELECT a FROM load ORDER BY running, served NULLS FIRST, oldest LIMIT 4";

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: Uuid,
    workflow_id: Uuid,
    run_from: i64,
    run_till: i64,
    attempt: i64,
}

#[derive(sqlx::FromRow)]
struct ExpiredRow {
    id: Uuid,
    lease_owner: String,
}

/// A worker's claim: who it is, until when its lease holds, and the
/// organizations' share of the workers.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub owner: &'a str,
    pub expires: Timestamp,
    pub now: Timestamp,
    pub max_running_per_organization: i64,
}

impl Store {
    /// Claims a runnable run: a queued run of the organization with the
    /// fewest running runs — organizations take turns, and none runs more
    /// than its share at once — else a run on a lease that expired (its
    /// worker died; the claim names it). `None` when there is nothing to do.
    pub async fn claim_run(&self, claim: &Claim<'_>) -> Result<Option<ClaimedRun>> {
        let Claim {
            owner,
            expires,
            now,
            ..
        } = *claim;
        let (row, previous_owner) = match self.claim_queued(claim).await? {
            Some(row) => (row, None),
            None => match self.take_over_expired(owner, expires, now).await? {
                Some((row, previous)) => (row, Some(previous)),
                None => return Ok(None),
            },
        };
        Ok(Some(ClaimedRun {
            lease: RunLease::new(row.id, owner, row.attempt),
            id: row.id,
            workflow_id: row.workflow_id,
            run_from: row.run_from,
            run_till: row.run_till,
            attempt: row.attempt,
            previous_owner,
        }))
    }

    async fn claim_queued(&self, claim: &Claim<'_>) -> Result<Option<ClaimRow>> {
        let orgs: Vec<Uuid> = with_db!(self, p => sqlx::query_scalar(FAIR_ORGANIZATIONS_SQL)
            .bind(claim.now)
            .bind(claim.max_running_per_organization)
            .fetch_all(p)
            .await?);
        for org in orgs {
            let accounts: Vec<Uuid> = with_db!(self, p => sqlx::query_scalar(FAIR_ACCOUNTS_SQL)
                .bind(org)
                .bind(claim.now)
                .fetch_all(p)
                .await?);
            // The fairest accounts first; then any account of the organization
            // (when those few have nothing runnable).
            for account in accounts.into_iter().map(Some).chain([None]) {
                if let Some(row) = self.claim_in_organization(claim, org, account).await? {
                    return Ok(Some(row));
                }
            }
        }
        Ok(None)
    }

    /// SQLite runs the claim alone (one writer), so its count of running runs
    /// holds; PostgreSQL first locks the organization's row, so concurrent
    /// claims for one organization cannot both take its last place.
    async fn claim_in_organization(
        &self,
        claim: &Claim<'_>,
        org: Uuid,
        account: Option<Uuid>,
    ) -> Result<Option<ClaimRow>> {
        // The claim and its workflow's status land together.
        let mut tx = self.begin().await?;
        let claimed = with_tx!(tx, c, d = {
            sqlite: ClaimSql::SQLITE,
            postgres: ClaimSql::POSTGRES,
        } => {
            if let Some(lock) = d.lock_organization {
                sqlx::query(lock).bind(org).execute(&mut *c).await?;
            }
            let sql = match account {
                Some(_) => d.of_account,
                None => d.of_organization,
            };
            let mut query = sqlx::query_as(sql)
                .bind(claim.owner)
                .bind(claim.expires)
                .bind(claim.now)
                .bind(org)
                .bind(claim.max_running_per_organization);
            if let Some(account) = account {
                query = query.bind(account);
            }
            query.fetch_optional(&mut *c).await
        });
        finish_claim(tx, self.claimed(claimed).await?).await
    }

    /// Takes over the oldest run whose lease expired; with the lease's previous holder.
    async fn take_over_expired(
        &self,
        owner: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<Option<(ClaimRow, String)>> {
        let candidate: Option<ExpiredRow> = with_db!(self, p => sqlx::query_as(EXPIRED_CANDIDATE_SQL).bind(now).fetch_optional(p).await?);
        let Some(candidate) = candidate else {
            return Ok(None);
        };
        let mut tx = self.begin().await?;
        let taken = with_tx!(tx, c => sqlx::query_as(TAKE_OVER_SQL)
            .bind(owner)
            .bind(expires)
            .bind(now)
            .bind(candidate.id)
            .bind(&candidate.lease_owner)
            .fetch_optional(c)
            .await);
        let row = finish_claim(tx, self.claimed(taken).await?).await?;
        Ok(row.map(|row| (row, candidate.lease_owner)))
    }

    /// A claim that lost the race for its workflow (unique violation) is no claim.
    async fn claimed(
        &self,
        result: std::result::Result<Option<ClaimRow>, sqlx::Error>,
    ) -> Result<Option<ClaimRow>> {
        match result.map_err(StoreError::from) {
            Err(StoreError::Conflict(_)) => Ok(None),
            other => other,
        }
    }
}

/// Marks a claimed run's workflow Running in the claim's transaction and
/// commits both; nothing claimed, the transaction is rolled back.
async fn finish_claim(mut tx: StoreTx, row: Option<ClaimRow>) -> Result<Option<ClaimRow>> {
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(None);
    };
    let sql = "UPDATE workflows SET status = $2 WHERE id = $1";
    with_tx!(tx, c => sqlx::query(sql).bind(row.workflow_id).bind(WorkflowStatus::Running.name()).execute(c).await?.rows_affected());
    tx.commit().await?;
    Ok(Some(row))
}
