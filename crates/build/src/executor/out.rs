//! Where a build's progress lines go: the client's stream, or, for `-q`,
//! a buffer sent only if the build fails (as dockerd does).

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::Progress;
use crate::error::{BuildError, Result};

pub(super) struct Out {
    pub(super) tx: mpsc::Sender<Progress>,
    quiet: bool,
    /// `q`: what would have been shown.
    held: Mutex<Vec<String>>,
}

impl Out {
    pub(super) fn new(tx: mpsc::Sender<Progress>, quiet: bool) -> Self {
        Out {
            tx,
            quiet,
            held: Default::default(),
        }
    }

    pub(super) async fn send(&self, p: Progress) -> Result<()> {
        self.tx
            .send(p)
            .await
            .map_err(|_| BuildError::new("build cancelled: the client went away"))
    }

    pub(super) async fn line(&self, s: impl Into<String>) -> Result<()> {
        if self.quiet {
            self.held.lock().push(s.into());
            return Ok(());
        }
        self.send(Progress::Stream(s.into())).await
    }

    pub(super) async fn release_held(&self) {
        let held = std::mem::take(&mut *self.held.lock());
        for s in held {
            let _ = self.tx.send(Progress::Stream(s)).await;
        }
    }
}
