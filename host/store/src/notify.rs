//! LISTEN/NOTIFY on a dedicated connection that reconnects by itself.

use crate::Store;
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

/// Channel on which every change of a `crypto_gaf.gafs` row is announced (payload: product).
pub const GAFS_CHANNEL: &str = "cgaf_gafs";

/// Channel on which every new live blend is announced (payload: product; schema migration 8).
pub const MATRIX_BLENDS_CHANNEL: &str = "cgaf_matrix_blends";

/// A notification received from PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The channel.
    pub channel: String,
    /// The payload.
    pub payload: String,
}

/// What a listener reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyEvent {
    /// The listener (re)connected and LISTENs again. Notifications sent while it was away are
    /// lost, so a consumer reloads what it caches.
    Connected,
    /// A notification.
    Notification(Notification),
}

impl Store {
    /// Listens on `channels` on a dedicated connection, reconnecting with capped backoff after
    /// any failure. The task ends when the receiver is dropped.
    pub fn listen(&self, channels: &[&str]) -> mpsc::Receiver<NotifyEvent> {
        let (tx, rx) = mpsc::channel(1024);
        let config = self.config.clone();
        let channels: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
        let mut closed = self.closed.subscribe();
        let listening = async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                if tx.is_closed() {
                    return;
                }
                match config.connect(tokio_postgres::NoTls).await {
                    Ok((client, mut connection)) => {
                        let (msg_tx, mut msg_rx) = mpsc::unbounded_channel();
                        let driver = tokio::spawn(async move {
                            let mut stream = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                            while let Some(m) = stream.next().await {
                                match m {
                                    Ok(AsyncMessage::Notification(n)) => {
                                        let _ = msg_tx.send(Notification {
                                            channel: n.channel().to_string(),
                                            payload: n.payload().to_string(),
                                        });
                                    }
                                    Ok(_) => {}
                                    Err(e) => {
                                        tracing::warn!(error = %e, "LISTEN connection failed");
                                        break;
                                    }
                                }
                            }
                        });
                        let listen: String =
                            channels.iter().map(|c| format!("LISTEN \"{}\";", c.replace('"', ""))).collect();
                        if let Err(e) = client.batch_execute(&listen).await {
                            tracing::warn!(error = %e, "LISTEN failed");
                            driver.abort();
                        } else {
                            backoff = Duration::from_millis(100);
                            if tx.send(NotifyEvent::Connected).await.is_err() {
                                return;
                            }
                            while let Some(n) = msg_rx.recv().await {
                                if tx.send(NotifyEvent::Notification(n)).await.is_err() {
                                    return;
                                }
                            }
                            tracing::warn!("LISTEN connection lost; reconnecting");
                        }
                        drop(client);
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN connect failed; retrying in {backoff:?}"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        };
        // Ends quietly when the store is closed ([`Store::close`]): its connection is dropped
        // before the database goes away.
        tokio::spawn(async move {
            tokio::select! {
                _ = closed.wait_for(|c| *c) => {}
                () = listening => {}
            }
        });
        rx
    }

    /// Sends a notification (for tests and tools; the `gafs` trigger notifies by itself).
    pub async fn notify(&self, channel: &str, payload: &str) -> crate::Result<()> {
        self.client().await?.execute("SELECT pg_notify($1, $2)", &[&channel, &payload]).await?;
        Ok(())
    }
}
