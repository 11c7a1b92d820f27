//! How long the server keeps a door open, as IIS's HTTP.sys does: a client
//! has `header_wait_timeout` to send a request header once it starts one,
//! a kept-alive connection may sit idle for `idle_connection_timeout`, and
//! a request body must arrive within `entity_body_timeout` (HTTP.sys's
//! defaults: 120 s each). Beyond `max_connections` open connections a new
//! one is answered 503 and closed before anything reaches the CA. The
//! server counts every connection it closes, by reason.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// `[limits]` in serve.toml; every value optional. Timeouts in seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// HTTP.sys HeaderWaitTimeout: from a request's first byte to its last
    /// header line (and for a TLS handshake).
    pub header_wait_timeout: u64,
    /// HTTP.sys IdleConnectionTimeout: a connection with no request under way.
    pub idle_connection_timeout: u64,
    /// HTTP.sys EntityBody timeout: for the whole request body.
    pub entity_body_timeout: u64,
    /// Open connections at most (IIS's default is 4294967295; this one keeps
    /// file descriptors bounded).
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_wait_timeout: 120,
            idle_connection_timeout: 120,
            entity_body_timeout: 120,
            max_connections: 10_000,
        }
    }
}

impl Limits {
    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), crate::config::ConfigError> {
        for (key, v) in [
            ("header_wait_timeout", self.header_wait_timeout),
            ("idle_connection_timeout", self.idle_connection_timeout),
            ("entity_body_timeout", self.entity_body_timeout),
        ] {
            if v == 0 {
                return Err(crate::config::ConfigError::new(
                    format!("limits.{key}"),
                    "give a number of seconds above 0",
                ));
            }
        }
        if self.max_connections == 0 {
            return Err(crate::config::ConfigError::new(
                "limits.max_connections",
                "at least 1",
            ));
        }
        Ok(())
    }

    pub(crate) fn header_wait(&self) -> Duration {
        Duration::from_secs(self.header_wait_timeout)
    }

    pub(crate) fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_connection_timeout)
    }

    pub(crate) fn entity_body(&self) -> Duration {
        Duration::from_secs(self.entity_body_timeout)
    }
}

/// Why the server closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    HeaderWait,
    Idle,
    EntityBody,
    OverLimit,
}

/// Connections open now and closed so far, by reason (`/control/status`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCounts {
    pub open: usize,
    pub closed_header_wait: u64,
    pub closed_idle: u64,
    pub closed_entity_body: u64,
    pub refused_over_limit: u64,
}

/// The live counters behind [`ConnectionCounts`].
#[derive(Debug, Default)]
pub(crate) struct ConnectionStats {
    open: AtomicUsize,
    header_wait: AtomicU64,
    idle: AtomicU64,
    entity_body: AtomicU64,
    over_limit: AtomicU64,
}

impl ConnectionStats {
    /// Takes a place for a new connection, or `None` when `max` are open.
    pub(crate) fn admit(self: &Arc<Self>, max: usize) -> Option<OpenConnection> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        match taken {
            Ok(_) => Some(OpenConnection(self.clone())),
            Err(_) => {
                self.closed(Closed::OverLimit);
                None
            }
        }
    }

    pub(crate) fn closed(&self, why: Closed) {
        let counter = match why {
            Closed::HeaderWait => &self.header_wait,
            Closed::Idle => &self.idle,
            Closed::EntityBody => &self.entity_body,
            Closed::OverLimit => &self.over_limit,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn counts(&self) -> ConnectionCounts {
        ConnectionCounts {
            open: self.open.load(Ordering::Acquire),
            closed_header_wait: self.header_wait.load(Ordering::Relaxed),
            closed_idle: self.idle.load(Ordering::Relaxed),
            closed_entity_body: self.entity_body.load(Ordering::Relaxed),
            refused_over_limit: self.over_limit.load(Ordering::Relaxed),
        }
    }
}

/// A place among the open connections, given back when dropped.
pub(crate) struct OpenConnection(Arc<ConnectionStats>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where a connection stands, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No request under way (a new or kept-alive connection).
    Idle,
    /// A request's first bytes came; its header is not complete.
    Header,
    /// The server is reading the body or answering.
    Busy,
}

/// One connection's phase, moved by its reads and by the request handler;
/// each move wakes the watchdog, whose deadline depends on the phase.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<(Phase, Instant)>,
    changed: Notify,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new((Phase::Idle, Instant::now())),
            changed: Notify::new(),
        })
    }

    fn set(&self, phase: Phase, only_from: Option<Phase>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if only_from.is_none_or(|from| s.0 == from) {
            *s = (phase, Instant::now());
            self.changed.notify_one();
        }
    }

    fn get(&self) -> (Phase, Instant) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The handler has the request: no header or idle timer runs.
    pub(crate) fn busy(&self) {
        self.set(Phase::Busy, None);
    }

    /// The answer is out: the connection waits for its next request.
    pub(crate) fn idle(&self) {
        self.set(Phase::Idle, None);
    }

    fn bytes_read(&self) {
        self.set(Phase::Header, Some(Phase::Idle));
    }
}

/// Resolves when the connection has overstayed its phase: why it must close.
pub(crate) async fn watchdog(activity: Arc<Activity>, limits: Limits) -> Closed {
    loop {
        let (phase, since) = activity.get();
        let (limit, why) = match phase {
            Phase::Idle => (limits.idle(), Closed::Idle),
            Phase::Header => (limits.header_wait(), Closed::HeaderWait),
            // The handler bounds its own body read; wait for the next phase.
            Phase::Busy => {
                activity.changed.notified().await;
                continue;
            }
        };
        let deadline = since + limit;
        if Instant::now() >= deadline {
            return why;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            _ = activity.changed.notified() => {}
        }
    }
}

/// A connection's stream, telling its [`Activity`] when bytes arrive.
pub(crate) struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I> Watched<I> {
    pub(crate) fn new(inner: I, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_stops_at_the_limit_and_counts_the_refusals() {
        let stats = Arc::new(ConnectionStats::default());
        let a = stats.admit(2).unwrap();
        let _b = stats.admit(2).unwrap();
        assert!(stats.admit(2).is_none());
        assert_eq!(stats.counts().open, 2);
        assert_eq!(stats.counts().refused_over_limit, 1);
        drop(a);
        assert!(stats.admit(2).is_some());
    }

    #[test]
    fn zero_limits_are_refused_with_their_key() {
        let e = Limits {
            idle_connection_timeout: 0,
            ..Limits::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.field, "limits.idle_connection_timeout");
    }
}
