//! Wake-ups of the blend stream (`GET /api/matrices/stream`). The API holds one LISTEN
//! connection — the image cache's refresher ([`crate::Cache::spawn_refresher`]) — which forwards
//! every `cgaf_matrix_blends` notification (payload: product) here, and every (re)connection of
//! that listener as a wake-up of all streams, because notifications sent while it was away are
//! lost. A stream answers a wake-up by reading the table after the last id it sent, so what it
//! sends comes from the table, never from the notification.

use tokio::sync::broadcast;

/// Why the streams should look at the table again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlendWakeup {
    /// A live blend of this product was written.
    Product(String),
    /// The listener (re)connected: anything may have been missed.
    All,
}

/// Wake-ups shared by every blend stream (a broadcast channel; a stream that falls behind is
/// woken as by [`BlendWakeup::All`]).
#[derive(Debug, Clone)]
pub struct BlendWakeups {
    tx: broadcast::Sender<BlendWakeup>,
}

impl Default for BlendWakeups {
    fn default() -> Self {
        Self { tx: broadcast::channel(1024).0 }
    }
}

impl BlendWakeups {
    /// A receiver of the wake-ups from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BlendWakeup> {
        self.tx.subscribe()
    }

    /// Wakes the streams (nobody listening is fine).
    pub fn wake(&self, wakeup: BlendWakeup) {
        let _ = self.tx.send(wakeup);
    }
}
