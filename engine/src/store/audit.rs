//! Appending to and reading the audit log.

use crate::store::{on_pool, Dialect};
use chrono::{DateTime, Utc};

use super::Store;
use crate::audit::{AuditRecord, StoredRow};
use crate::domain::AuditEntry;
use crate::error::{InvalidInput, Result};
use crate::time;

/// Filters for the audit page. All optional; combined with AND.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub environment: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Keyset cursor: only rows with `seq` below this.
    pub before_seq: Option<i64>,
}

impl AuditFilter {
    /// Builds a filter from query-string values; empty means "any".
    /// Times are `YYYY-MM-DD` (UTC; `until` includes that day) or RFC 3339.
    pub fn from_query(
        actor: &str,
        action: &str,
        environment: &str,
        since: &str,
        until: &str,
        before_seq: Option<i64>,
    ) -> Result<Self, InvalidInput> {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(action) = text(action) {
            if !crate::audit::actions::ALL.contains(&action.as_str()) {
                return Err(InvalidInput::new(
                    "action",
                    format!("unknown action {action:?}"),
                ));
            }
        }
        Ok(Self {
            actor: text(actor),
            action: text(action),
            environment: text(environment),
            since: parse_time("since", since, false)?,
            until: parse_time("until", until, true)?,
            before_seq,
        })
    }
}

fn parse_time(
    field: &'static str,
    raw: &str,
    end_of_day: bool,
) -> Result<Option<DateTime<Utc>>, InvalidInput> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(ts) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(ts.with_timezone(&Utc)));
    }
    match chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(day) => {
            let day = if end_of_day {
                day.succ_opt().unwrap_or(day)
            } else {
                day
            };
            Ok(day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
        }
        Err(_) => Err(InvalidInput::new(
            field,
            format!("{raw:?} is not a date (YYYY-MM-DD) or RFC 3339 time"),
        )),
    }
}

/// Rows `first..after_last` of the chain (either end open).
struct SeqRange {
    first: Option<i64>,
    after_last: Option<i64>,
}

impl Store {
    /// Newest first, at most `limit` rows.
    pub async fn audit_page(&self, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditEntry>> {
        let Some(rows) = self.audit_rows_between(filter.since, filter.until).await? else {
            return Ok(Vec::new());
        };
        let columns = entry_columns(self.pool().dialect());
        let mut query = Filtered::new(format!("SELECT {columns} FROM audit_log WHERE 1 = 1"));
        if let Some(actor) = &filter.actor {
            query.sql(" AND actor = ").text(actor);
        }
        if let Some(action) = &filter.action {
            query.sql(" AND action = ").text(action);
        }
        if let Some(env) = &filter.environment {
            query.sql(" AND environment = ").text(env);
        }
        if let Some(since) = filter.since {
            query.sql(" AND ts >= ").text(&time::to_rfc3339(since));
        }
        if let Some(until) = filter.until {
            query.sql(" AND ts < ").text(&time::to_rfc3339(until));
        }
        // Times never decrease along the chain: the date range is a range
        // of rows, which each (column, seq) index serves directly.
        if let Some(first) = rows.first {
            query.sql(" AND seq >= ").int(first);
        }
        let before = match (filter.before_seq, rows.after_last) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(before) = before {
            query.sql(" AND seq < ").int(before);
        }
        query.sql(" ORDER BY seq DESC LIMIT ").int(limit);
        Ok(on_pool!(self, pool => {
            let mut select = sqlx::query_as(&query.sql);
            for arg in &query.args {
                select = match arg {
                    FilterArg::Text(text) => select.bind(text),
                    FilterArg::Int(int) => select.bind(int),
                };
            }
            select.fetch_all(pool).await
        })?)
    }

    /// The rows stamped from `since` until before `until`: the first one's
    /// seq and the seq just past the last; `None` when none can match.
    async fn audit_rows_between(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<SeqRange>> {
        let first_at_or_after = |at: DateTime<Utc>| async move {
            on_pool!(self, pool => sqlx::query_scalar::<_, i64>(
                "SELECT seq FROM audit_log WHERE ts >= $1 ORDER BY ts, seq LIMIT 1",
            )
            .bind(time::to_rfc3339(at))
            .fetch_optional(pool)
            .await)
        };
        let first = match since {
            Some(since) => match first_at_or_after(since).await? {
                Some(seq) => Some(seq),
                None => return Ok(None),
            },
            None => None,
        };
        let after_last = match until {
            Some(until) => first_at_or_after(until).await?,
            None => None,
        };
        Ok(Some(SeqRange { first, after_last }))
    }

    /// Rows after `after_seq`, in chain order, as stored (every column as text), for verifying the chain.
    pub async fn audit_rows_after(&self, after_seq: i64, limit: i64) -> Result<Vec<StoredRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT seq, CAST(ts AS TEXT) AS ts, CAST(actor AS TEXT) AS actor,
                    CAST(action AS TEXT) AS action, CAST(target AS TEXT) AS target,
                    CAST(environment AS TEXT) AS environment, CAST(details AS TEXT) AS details,
                    CAST(prev_hash AS TEXT) AS prev_hash, CAST(hash AS TEXT) AS hash
             FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// Records an action that changes nothing else (e.g. a logout).
    /// The newest audit row about `environment` (`app/env`), or about any
    /// environment when `None`: 0 when there is none. Pages compare it with
    /// what they showed to tell that something happened since.
    pub async fn latest_audit_seq(&self, environment: Option<&str>) -> Result<i64> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) FROM audit_log
             WHERE CASE WHEN $1 IS NULL THEN environment IS NOT NULL ELSE environment = $1 END",
        )
        .bind(environment)
        .fetch_one(pool)
        .await)?)
    }

    pub async fn audit_only(&self, record: &AuditRecord) -> Result<i64> {
        let mut tx = self.write().await?;
        let seq = super::tx::audit::append(&mut tx, record).await?;
        tx.commit().await?;
        Ok(seq)
    }
}

#[cfg(feature = "test-support")]
impl Store {
    /// Appends `records` stamped with their times, in one transaction, as
    /// if they had happened then (a benchmark's load; times before the
    /// chain's last row are stamped with its time). No notifications.
    pub async fn append_audit_load(&self, records: &[(DateTime<Utc>, AuditRecord)]) -> Result<()> {
        let mut tx = self.write().await?;
        for (at, record) in records {
            super::tx::audit::append_at(&mut tx, record, *at).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A query with `$N` placeholders built as filters are added.
struct Filtered {
    sql: String,
    args: Vec<FilterArg>,
}

enum FilterArg {
    Text(String),
    Int(i64),
}

impl Filtered {
    fn new(sql: String) -> Self {
        Self {
            sql,
            args: Vec::new(),
        }
    }

    fn sql(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    fn text(&mut self, value: &str) -> &mut Self {
        self.bound(FilterArg::Text(value.to_owned()))
    }

    fn int(&mut self, value: i64) -> &mut Self {
        self.bound(FilterArg::Int(value))
    }

    fn bound(&mut self, arg: FilterArg) -> &mut Self {
        self.args.push(arg);
        self.sql.push_str(&format!("${}", self.args.len()));
        self
    }
}

/// The columns of an [`AuditEntry`] in a `SELECT` on `audit_log`.
/// PostgreSQL keeps `ts` as the text the chain hashed, as SQLite does, and
/// reads it back as a time.
pub fn entry_columns(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "*",
        Dialect::Postgres => {
            "seq, CAST(ts AS TIMESTAMPTZ) AS ts, actor, action, target, environment, details,
             prev_hash, hash"
        }
    }
}
