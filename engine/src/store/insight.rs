//! The facts DORA metrics are counted from (an environment's releases that
//! went live, with their builds' commit times, and its failed jobs), and
//! the release timeline's marks.

use crate::store::on_pool;
use chrono::{DateTime, Duration, Utc};

use super::tx::packed;
use super::Store;
use crate::domain::insight::{History, LiveRelease};
use crate::domain::timeline::{Lane, Mark, Outcome};
use crate::error::Result;

impl Store {
    /// Environment `env_id`'s history since `since`, oldest first.
    ///
    /// Times come back as milliseconds after `since`, packed
    /// ([`super::tx::packed`]): a quarter of a busy environment is tens of
    /// thousands of releases.
    pub async fn release_history(&self, env_id: i64, since: DateTime<Utc>) -> Result<History> {
        let at = |ms: i64| since + Duration::milliseconds(ms);
        let (releases, failures): (Option<String>, Option<String>) = on_pool!(self,
            sqlite pool => sqlx::query_as(HISTORY_SQLITE)
                .bind(since)
                .bind(env_id)
                .fetch_one(pool)
                .await,
            postgres pool => sqlx::query_as(HISTORY_POSTGRES)
                .bind(since)
                .bind(env_id)
                .fetch_one(pool)
                .await
        )?;
        let releases = packed::rows::<3>(releases.as_deref())?
            .into_iter()
            .filter_map(|[released, committed, rollback]| {
                Some(LiveRelease {
                    released_at: at(released?),
                    committed_at: committed.map(at),
                    rollback: rollback == Some(1),
                })
            })
            .collect();
        let failures = packed::rows::<1>(failures.as_deref())?
            .into_iter()
            .filter_map(|[finished]| finished.map(at))
            .collect();
        Ok(History { releases, failures })
    }

    /// The timeline's lanes between `from` and `to` (of application
    /// `application_id`, or of all), `columns` columns each, sorted by
    /// environment, and how many releases they show: what
    /// [`crate::domain::timeline::lanes`] makes of every release in the span, placed and
    /// counted by the database, which hands back one packed row per lane.
    ///
    /// Releases are read from one covering index in time order; the job is
    /// read only for a failed release (a job switches its release live only
    /// on success, so `failed` is exactly "did not succeed"), to tell an
    /// interruption from a failure; a superseded release whose successor
    /// on its environment is a rollback was rolled back. A mark links the
    /// newest release's job: the highest job id, as jobs are numbered in
    /// the order they are queued (and a history is imported oldest first).
    pub async fn timeline_lanes(
        &self,
        application_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        columns: u32,
    ) -> Result<(Vec<Lane>, usize)> {
        let span_ms = (to - from).num_milliseconds().max(1);
        let rows: Vec<(String, Option<String>)> = on_pool!(self,
            sqlite pool => sqlx::query_as(TIMELINE_SQLITE)
                .bind(from)
                .bind(to)
                .bind(application_id)
                .bind(i64::from(columns))
                .bind(span_ms)
                .fetch_all(pool)
                .await,
            postgres pool => sqlx::query_as(TIMELINE_POSTGRES)
                .bind(from)
                .bind(to)
                .bind(application_id)
                .bind(i64::from(columns))
                .bind(span_ms)
                .fetch_all(pool)
                .await
        )?;
        let mut shown = 0;
        let mut lanes = Vec::with_capacity(rows.len());
        for (environment, packed) in rows {
            let mut marks = Vec::new();
            for [column, rank, releases, job_id, ms] in packed::rows::<5>(packed.as_deref())? {
                let (Some(column), Some(releases), Some(job_id), Some(ms)) =
                    (column, releases, job_id, ms)
                else {
                    continue;
                };
                shown += releases as usize;
                marks.push(Mark {
                    column: column as u32,
                    outcome: Outcome::from_rank(rank.unwrap_or(0)),
                    releases: releases as u32,
                    job_id,
                    at: from + Duration::milliseconds(ms),
                });
            }
            marks.sort_unstable_by_key(|mark| mark.column);
            lanes.push(Lane { environment, marks });
        }
        lanes.sort_by(|a, b| a.environment.cmp(&b.environment));
        Ok((lanes, shown))
    }
}

/// Releases that went live (`released,committed,rollback`, in ms after $1)
/// and failed jobs (`finished`) of environment $2 since $1, packed.
const HISTORY_SQLITE: &str = "SELECT
   (SELECT group_concat(released || ',' || COALESCE(committed, '') || ',' || rollback, ';')
    FROM (SELECT CAST(ROUND((julianday(r.released_at) - julianday($1)) * 86400000.0) AS INTEGER) AS released,
                 CAST(ROUND((julianday(b.committed_at) - julianday($1)) * 86400000.0) AS INTEGER) AS committed,
                 r.kind = 'rollback' AS rollback
          FROM releases r
          JOIN builds b ON b.id = r.build_id
          WHERE r.environment_id = $2 AND r.released_at IS NOT NULL AND r.released_at >= $1
          ORDER BY r.released_at)),
   (SELECT group_concat(finished, ';')
    FROM (SELECT CAST(ROUND((julianday(finished_at) - julianday($1)) * 86400000.0) AS INTEGER) AS finished
          FROM jobs
          WHERE environment_id = $2 AND kind IN ('deploy', 'rollback')
            AND state IN ('failed', 'interrupted') AND finished_at >= $1
          ORDER BY finished_at))";

const HISTORY_POSTGRES: &str = "SELECT
   (SELECT string_agg(released || ',' || COALESCE(committed::TEXT, '') || ',' || rollback, ';'
                      ORDER BY released_at)
    FROM (SELECT ROUND(EXTRACT(EPOCH FROM r.released_at - $1) * 1000)::BIGINT AS released,
                 ROUND(EXTRACT(EPOCH FROM b.committed_at - $1) * 1000)::BIGINT AS committed,
                 (r.kind = 'rollback')::INTEGER AS rollback,
                 r.released_at
          FROM releases r
          JOIN builds b ON b.id = r.build_id
          WHERE r.environment_id = $2 AND r.released_at IS NOT NULL AND r.released_at >= $1) live),
   (SELECT string_agg(finished::TEXT, ';' ORDER BY finished)
    FROM (SELECT ROUND(EXTRACT(EPOCH FROM finished_at - $1) * 1000)::BIGINT AS finished
          FROM jobs
          WHERE environment_id = $2 AND kind IN ('deploy', 'rollback')
            AND state IN ('failed', 'interrupted') AND finished_at >= $1) failed)";

/// The timeline's marks per lane between $1 and $2 (of application $3, or
/// of all), in $4 columns over $5 ms: `col,rank,releases,job,ms` packed.
/// Ranks follow `Outcome`'s order (see `Outcome::from_rank`).
const TIMELINE_SQLITE: &str = "WITH placed AS (
    SELECT r.environment_id AS env, r.job_id AS job, ms,
           MIN(ms * $4 / $5, $4 - 1) AS col,
           CASE r.state
                WHEN 'failed' THEN (SELECT CASE j.state WHEN 'interrupted' THEN 4 ELSE 5 END
                                    FROM jobs j WHERE j.id = r.job_id)
                WHEN 'live' THEN 2
                WHEN 'pending' THEN 1
                ELSE CASE WHEN LEAD(r.kind) OVER (PARTITION BY r.environment_id ORDER BY r.id) = 'rollback'
                          THEN 3 ELSE 0 END
           END AS rank
    FROM (SELECT id, environment_id, job_id, state, kind,
                 CAST(ROUND((julianday(created_at) - julianday($1)) * 86400000.0) AS INTEGER) AS ms
          FROM releases INDEXED BY releases_by_created_at
          WHERE created_at >= $1 AND created_at <= $2
            AND ($3 IS NULL OR environment_id IN (SELECT id FROM environments WHERE application_id = $3))) r
 ),
 marks AS (
    SELECT env, col, COUNT(*) AS n, MAX(rank) AS rank, MAX(job) AS job, MAX(ms) AS ms
    FROM placed GROUP BY env, col
 )
 SELECT a.name || '/' || e.name,
        group_concat(m.col || ',' || m.rank || ',' || m.n || ',' || m.job || ',' || m.ms, ';')
 FROM marks m
 JOIN environments e ON e.id = m.env
 JOIN applications a ON a.id = e.application_id
 GROUP BY m.env";

const TIMELINE_POSTGRES: &str = "WITH placed AS (
    SELECT r.environment_id AS env, r.job_id AS job, ms,
           LEAST(ms * $4 / $5, $4 - 1) AS col,
           CASE r.state
                WHEN 'failed' THEN (SELECT CASE j.state WHEN 'interrupted' THEN 4 ELSE 5 END
                                    FROM jobs j WHERE j.id = r.job_id)
                WHEN 'live' THEN 2
                WHEN 'pending' THEN 1
                ELSE CASE WHEN LEAD(r.kind) OVER (PARTITION BY r.environment_id ORDER BY r.id) = 'rollback'
                          THEN 3 ELSE 0 END
           END AS rank
    FROM (SELECT id, environment_id, job_id, state, kind,
                 ROUND(EXTRACT(EPOCH FROM created_at - $1) * 1000)::BIGINT AS ms
          FROM releases
          WHERE created_at >= $1 AND created_at <= $2
            AND ($3::BIGINT IS NULL
                 OR environment_id IN (SELECT id FROM environments WHERE application_id = $3))) r
 ),
 marks AS (
    SELECT env, col, COUNT(*) AS n, MAX(rank) AS rank, MAX(job) AS job, MAX(ms) AS ms
    FROM placed GROUP BY env, col
 )
 SELECT a.name || '/' || e.name,
        string_agg(m.col || ',' || m.rank || ',' || m.n || ',' || m.job || ',' || m.ms, ';')
 FROM marks m
 JOIN environments e ON e.id = m.env
 JOIN applications a ON a.id = e.application_id
 GROUP BY m.env, a.name, e.name";
