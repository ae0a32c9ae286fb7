//! The TSDB behind the web layer's status and admin endpoints
//! (`web::TsdbAdmin`): the head's statistics, and deletion, tombstone
//! cleaning and snapshots as the database does them.

use std::sync::Arc;

use model::Matcher;
use tsdb::db::Db;
use web::{HeadStats, Stat, TsdbAdmin, TsdbAdminError, TsdbStatus};

type DbSource = dyn Fn() -> Option<Arc<Db>> + Send + Sync;

pub struct DbAdmin {
    /// The database once open; `None` while the WAL replays.
    db: Box<DbSource>,
}

impl std::fmt::Debug for DbAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbAdmin").finish_non_exhaustive()
    }
}

impl DbAdmin {
    /// `db` answers the open database (e.g. `ReadyStorage::db`), so that
    /// the admin API can be built before storage opens.
    pub fn new(db: impl Fn() -> Option<Arc<Db>> + Send + Sync + 'static) -> DbAdmin {
        DbAdmin { db: Box::new(db) }
    }

    fn db(&self) -> Result<Arc<Db>, TsdbAdminError> {
        (self.db)().ok_or(TsdbAdminError::NotReady)
    }
}

fn failed(e: impl std::fmt::Display) -> TsdbAdminError {
    TsdbAdminError::Failed(e.to_string())
}

impl TsdbAdmin for DbAdmin {
    fn wal_corruptions(&self) -> u64 {
        self.db().map_or(0, |db| db.head().wal_corruptions())
    }

    fn status(&self, limit: usize) -> Result<TsdbStatus, TsdbAdminError> {
        let s = self.db()?.head().stats(limit);
        let stats = |v: Vec<(String, u64)>| v.into_iter().map(|(name, value)| Stat { name, value }).collect();
        Ok(TsdbStatus {
            head_stats: HeadStats {
                num_series: s.num_series,
                num_label_pairs: s.num_label_pairs,
                chunk_count: s.chunk_count,
                min_time: s.min_time,
                max_time: s.max_time,
            },
            series_count_by_metric_name: stats(s.series_count_by_metric_name),
            label_value_count_by_label_name: stats(s.label_value_count_by_label_name),
            memory_in_bytes_by_label_name: stats(s.memory_in_bytes_by_label_name),
            series_count_by_label_value_pair: stats(s.series_count_by_label_value_pair),
        })
    }

    fn delete_series(&self, matcher_sets: &[Vec<Matcher>], start: i64, end: i64) -> Result<(), TsdbAdminError> {
        let db = self.db()?;
        for set in matcher_sets {
            db.delete(start, end, set).map_err(failed)?;
        }
        Ok(())
    }

    fn clean_tombstones(&self) -> Result<(), TsdbAdminError> {
        self.db()?.clean_tombstones().map_err(failed)
    }

    fn snapshot(&self, skip_head: bool) -> Result<String, TsdbAdminError> {
        self.db()?.snapshot(!skip_head).map_err(|e| failed(format!("create snapshot: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use model::Labels;
    use storage::{Appendable, Queryable, SeriesRef};
    use tsdb::db::{DbMetrics, DbOptions};
    use tsdb::head::HeadMetrics;

    use super::*;

    fn db_with(dir: &std::path::Path, samples: &[(&str, i64, f64)]) -> Arc<Db> {
        let db = Arc::new(Db::open(dir, DbOptions::default(), HeadMetrics::new(None), DbMetrics::new(None)).unwrap());
        let mut app = db.appender();
        for (name, t, v) in samples {
            app.append(SeriesRef::UNKNOWN, &Labels::from_pairs([("__name__", *name), ("job", "j")]), *t, *v).unwrap();
        }
        app.commit().unwrap();
        db
    }

    #[test]
    fn not_ready_until_the_database_opens() {
        let a = DbAdmin::new(|| None);
        assert!(matches!(a.status(10), Err(TsdbAdminError::NotReady)));
        assert!(matches!(a.snapshot(false), Err(TsdbAdminError::NotReady)));
        assert!(matches!(a.clean_tombstones(), Err(TsdbAdminError::NotReady)));
        assert!(matches!(a.delete_series(&[], 0, 1), Err(TsdbAdminError::NotReady)));
    }

    #[test]
    fn status_converts_the_head_stats() {
        let dir = tempfile::tempdir().unwrap();
        let db = db_with(dir.path(), &[("up", 1000, 1.0), ("up", 2000, 1.0), ("down", 1500, 0.0)]);
        let a = DbAdmin::new(move || Some(db.clone()));
        let s = a.status(1).unwrap();
        assert_eq!(s.head_stats, HeadStats { num_series: 2, num_label_pairs: 3, chunk_count: 2, min_time: 1000, max_time: 2000 });
        assert_eq!(s.series_count_by_metric_name, [Stat { name: "down".into(), value: 1 }]);
        assert_eq!(s.series_count_by_label_value_pair, [Stat { name: "job=j".into(), value: 2 }]);
    }

    #[test]
    fn delete_series_hides_each_sets_series_and_snapshot_names_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let db = db_with(dir.path(), &[("up", 1000, 1.0), ("down", 1000, 0.0), ("other", 1000, 2.0)]);
        let d = db.clone();
        let a = DbAdmin::new(move || Some(d.clone()));
        a.delete_series(&[vec![Matcher::equal("__name__", "up")], vec![Matcher::equal("__name__", "down")]], 0, 5000).unwrap();
        let q = db.querier(0, 5000).unwrap();
        let left = storage::read_all(q.select(true, None, &[Matcher::equal("job", "j")]).as_mut()).unwrap();
        let with_samples: Vec<String> = left.into_iter().filter(|(_, s)| !s.is_empty()).map(|(l, _)| l.get("__name__").to_owned()).collect();
        assert_eq!(with_samples, ["other"]);
        a.clean_tombstones().unwrap();
        let name = a.snapshot(false).unwrap();
        assert!(dir.path().join("snapshots").join(name).is_dir());
    }
}
