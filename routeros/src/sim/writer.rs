//! The session's output side: encoded reply sentences go out here, through the fault knobs.

use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Inner;

/// Batches written at once when no fault slows the output.
const BATCH: usize = 64 * 1024;

/// Writes queued sentences until the queue closes or `end` fires; applies stall, drop and drip.
pub(crate) async fn write_loop<W: AsyncWrite>(
    write: W,
    mut queue: mpsc::Receiver<Vec<u8>>,
    inner: Arc<Inner>,
    end: CancellationToken,
) {
    tokio::pin!(write);
    let mut stall = inner.faults.stall.subscribe();
    loop {
        let first = tokio::select! {
            _ = end.cancelled() => break,
            next = queue.recv() => match next {
                Some(bytes) => bytes,
                None => break,
            },
        };
        if *stall.borrow_and_update() {
            tokio::select! {
                _ = end.cancelled() => break,
                _ = stall.wait_for(|stalled| !*stalled) => {}
            }
        }
        if inner.faults.take_drop() {
            let half = first.len() / 2;
            let _ = write.write_all(&first[..half.max(1)]).await;
            let _ = write.flush().await;
            tracing::debug!("simulator dropped the connection mid-sentence");
            break;
        }
        let written = if let Some(delay) = inner.faults.drip() {
            let mut result = Ok(());
            for byte in first {
                result = async {
                    write.write_all(&[byte]).await?;
                    write.flush().await
                }
                .await;
                if result.is_err() {
                    break;
                }
                tokio::select! {
                    _ = end.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            result
        } else {
            let mut batch = first;
            while batch.len() < BATCH {
                match queue.try_recv() {
                    Ok(more) => batch.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            tokio::select! {
                _ = end.cancelled() => break,
                written = async {
                    write.write_all(&batch).await?;
                    write.flush().await
                } => written,
            }
        };
        if written.is_err() {
            break;
        }
    }
    end.cancel();
    let _ = write.shutdown().await;
}
