//! The storage handle components are built with before storage is open
//! (as Prometheus's `readyStorage`): until the database has opened its
//! blocks and replayed its WAL, appends fail with "TSDB not ready" instead
//! of racing the replay.

use std::sync::{Arc, OnceLock};

use model::{Exemplar, Labels, Metadata, Timestamp};
use storage::{Appendable, Appender, ExemplarQuerier, ExemplarQueryable, Querier, Queryable, SeriesRef, StorageError};
use tsdb::db::Db;

#[derive(Debug, Clone, Default)]
pub struct ReadyStorage(Arc<OnceLock<Arc<Db>>>);

impl ReadyStorage {
    /// Makes the opened database available; later calls are ignored.
    pub fn set(&self, db: Arc<Db>) {
        let _ = self.0.set(db);
    }

    /// The database, once open.
    pub fn db(&self) -> Option<Arc<Db>> {
        self.0.get().cloned()
    }

    fn get(&self) -> Result<&Arc<Db>, StorageError> {
        self.0.get().ok_or_else(|| StorageError::Other("TSDB not ready".into()))
    }
}

impl ExemplarQueryable for ReadyStorage {
    fn exemplar_querier(&self) -> Result<Box<dyn ExemplarQuerier>, StorageError> {
        self.get()?.exemplar_querier()
    }
}

impl Queryable for ReadyStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        self.get()?.querier(mint, maxt)
    }
}

impl Appendable for ReadyStorage {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(ReadyAppender { storage: self.0.clone(), inner: None })
    }
}

/// Binds to the database on first use, so that an appender taken before
/// it opened (a scrape loop's, kept for its lifetime) works once it has.
struct ReadyAppender {
    storage: Arc<OnceLock<Arc<Db>>>,
    inner: Option<Box<dyn Appender>>,
}

impl ReadyAppender {
    fn inner(&mut self) -> Result<&mut Box<dyn Appender>, StorageError> {
        if self.inner.is_none() {
            let db = self.storage.get().ok_or_else(|| StorageError::Other("TSDB not ready".into()))?;
            self.inner = Some(db.appender());
        }
        self.inner.as_mut().ok_or_else(|| StorageError::Other("TSDB not ready".into()))
    }
}

impl Appender for ReadyAppender {
    fn append(&mut self, hint: SeriesRef, labels: &Labels, t: Timestamp, v: f64) -> Result<SeriesRef, StorageError> {
        self.inner()?.append(hint, labels, t, v)
    }

    fn append_exemplar(&mut self, hint: SeriesRef, labels: &Labels, exemplar: &Exemplar) -> Result<SeriesRef, StorageError> {
        self.inner()?.append_exemplar(hint, labels, exemplar)
    }

    fn update_metadata(&mut self, hint: SeriesRef, labels: &Labels, metadata: &Metadata) -> Result<SeriesRef, StorageError> {
        self.inner()?.update_metadata(hint, labels, metadata)
    }

    fn commit(&mut self) -> Result<(), StorageError> {
        match &mut self.inner {
            Some(a) => a.commit(),
            None => Ok(()),
        }
    }

    fn rollback(&mut self) -> Result<(), StorageError> {
        match &mut self.inner {
            Some(a) => a.rollback(),
            None => Ok(()),
        }
    }
}
