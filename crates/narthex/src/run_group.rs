//! The run group: the server's components, started in order and stopped in
//! reverse, where the first to end stops them all (Prometheus's `oklog/run`).
//!
//! Each member gets its own cancellation token and a [`Started`] handle. The
//! group starts the next member only once the previous one has reported that
//! it is up (storage has replayed its log, the web server is listening), so
//! that a component never runs before what it depends on. Stopping cancels
//! members from the last to the first, waiting for each in turn, so storage,
//! first to start, is last to stop.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

type MemberFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
type MemberFn = Box<dyn FnOnce(CancellationToken, Started) -> MemberFuture + Send>;

/// Tells the group a member is up. Dropping it without calling
/// [`Started::up`] means the member is ending: the group waits for its end
/// and starts no further member.
#[derive(Debug)]
pub struct Started(Option<oneshot::Sender<()>>);

impl Started {
    pub fn up(mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Members, in start order.
pub struct RunGroup {
    members: Vec<(&'static str, MemberFn)>,
    grace: Duration,
}

impl std::fmt::Debug for RunGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunGroup").field("members", &self.members.iter().map(|(n, _)| *n).collect::<Vec<_>>()).finish()
    }
}

/// How the group ended.
#[derive(Debug)]
pub struct Outcome {
    /// The member whose end stopped the group, and its result.
    pub first: (&'static str, anyhow::Result<()>),
    /// Members that failed while stopping, or did not stop in time.
    pub stop_errors: Vec<(&'static str, anyhow::Error)>,
}

impl RunGroup {
    /// `grace` bounds how long each member may take to stop.
    pub fn new(grace: Duration) -> Self {
        RunGroup { members: Vec::new(), grace }
    }

    /// Adds a member. `run` must return when its token is cancelled.
    pub fn add<F, Fut>(&mut self, name: &'static str, run: F)
    where
        F: FnOnce(CancellationToken, Started) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.members.push((name, Box::new(move |t, s| Box::pin(run(t, s)))));
    }

    /// Starts every member in order, waits for the first to end, then stops
    /// the others in reverse order.
    pub async fn run(self) -> Outcome {
        let mut running: Vec<Running> = Vec::new();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
        let mut early: Option<(&'static str, anyhow::Result<()>)> = None;

        for (i, (name, run)) in self.members.into_iter().enumerate() {
            let token = CancellationToken::new();
            let (up_tx, up_rx) = oneshot::channel();
            let fut = run(token.clone(), Started(Some(up_tx)));
            // The guard reports the end even when the member panics.
            let done = DoneGuard(done_tx.clone(), i);
            let handle = tokio::spawn(async move {
                let _done = done;
                fut.await
            });
            running.push(Running { id: i, name, token, handle });
            tracing::debug!(member = name, "starting");
            // Wait until it is up, or until it (or an earlier member) ends.
            let ended = tokio::select! {
                biased;
                Some(j) = done_rx.recv() => Some(j),
                up = up_rx => match up {
                    Ok(()) => None,
                    // Dropped without `up`: the member is ending.
                    Err(_) => done_rx.recv().await,
                },
            };
            if let Some(j) = ended {
                early = Some(take_result(&mut running, j).await);
                break;
            }
        }

        let first = match early {
            Some(f) => f,
            None => match done_rx.recv().await {
                Some(j) => take_result(&mut running, j).await,
                None => ("run group", Ok(())),
            },
        };

        let mut stop_errors = Vec::new();
        for Running { name, token, handle, .. } in running.into_iter().rev() {
            token.cancel();
            match tokio::time::timeout(self.grace, handle).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => stop_errors.push((name, e)),
                Ok(Err(join)) => stop_errors.push((name, anyhow::anyhow!("task failed: {join}"))),
                Err(_) => stop_errors.push((name, anyhow::anyhow!("did not stop within {:?}", self.grace))),
            }
        }
        Outcome { first, stop_errors }
    }
}

struct DoneGuard(tokio::sync::mpsc::UnboundedSender<usize>, usize);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

struct Running {
    id: usize,
    name: &'static str,
    token: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

/// Removes member `id` from `running` and collects its result.
async fn take_result(running: &mut Vec<Running>, id: usize) -> (&'static str, anyhow::Result<()>) {
    let Some(pos) = running.iter().position(|r| r.id == id) else {
        return ("run group", Err(anyhow::anyhow!("unknown member {id} ended")));
    };
    let Running { name, handle, .. } = running.remove(pos);
    let r = match handle.await {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("task failed: {e}")),
    };
    (name, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn starts_in_order_and_stops_in_reverse() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut g = RunGroup::new(Duration::from_secs(5));
        for name in ["storage", "scrape", "web"] {
            let log = log.clone();
            g.add(name, move |token, started| async move {
                log.lock().unwrap().push(format!("start {name}"));
                started.up();
                token.cancelled().await;
                log.lock().unwrap().push(format!("stop {name}"));
                Ok(())
            });
        }
        let log2 = log.clone();
        g.add("signal", move |_token, started| async move {
            started.up();
            log2.lock().unwrap().push("signal".into());
            Ok(())
        });
        let out = g.run().await;
        assert_eq!(out.first.0, "signal");
        assert!(out.first.1.is_ok() && out.stop_errors.is_empty());
        let log = log.lock().unwrap().clone();
        assert_eq!(log, ["start storage", "start scrape", "start web", "signal", "stop web", "stop scrape", "stop storage"]);
    }

    #[tokio::test]
    async fn a_failing_start_stops_earlier_members() {
        let stopped = Arc::new(Mutex::new(false));
        let mut g = RunGroup::new(Duration::from_secs(5));
        let s = stopped.clone();
        g.add("storage", move |token, started| async move {
            started.up();
            token.cancelled().await;
            *s.lock().unwrap() = true;
            Ok(())
        });
        g.add("web", |_t, _s| async { anyhow::bail!("address in use") });
        g.add("never", |_t, _s| async { panic!("must not start after a failure") });
        let out = g.run().await;
        assert_eq!(out.first.0, "web");
        assert!(out.first.1.is_err());
        assert!(*stopped.lock().unwrap());
    }

    #[tokio::test]
    async fn a_panicking_member_stops_the_group() {
        let mut g = RunGroup::new(Duration::from_secs(5));
        g.add("storage", |token, started| async move {
            started.up();
            token.cancelled().await;
            Ok(())
        });
        g.add("buggy", |_t, started| async move {
            started.up();
            tokio::task::yield_now().await;
            panic!("boom");
        });
        let out = g.run().await;
        assert_eq!(out.first.0, "buggy");
        assert!(out.first.1.is_err());
    }

    #[tokio::test]
    async fn a_stuck_member_is_reported_after_the_grace_period() {
        let mut g = RunGroup::new(Duration::from_millis(50));
        g.add("stuck", |_t, started| async move {
            started.up();
            std::future::pending::<()>().await;
            Ok(())
        });
        g.add("quit", |_t, started| async move {
            started.up();
            Ok(())
        });
        let out = g.run().await;
        assert_eq!(out.stop_errors.len(), 1);
        assert_eq!(out.stop_errors[0].0, "stuck");
    }
}
