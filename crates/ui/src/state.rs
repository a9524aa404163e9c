//! What every dashboard handler shares.

use std::sync::Arc;
use std::time::Duration;

use crate::UiOptions;
use crate::auth::ratelimit::RateLimiter;
use crate::auth::session::Sessions;
use crate::auth::users::UserStore;
use crate::error::UiError;
use crate::host::HostSampler;

pub struct Ui {
    pub engine: Arc<engine::Engine>,
    /// The Docker API, served in-process to the browser code.
    pub docker: axum::Router,
    pub users: UserStore,
    pub sessions: Sessions,
    pub logins: RateLimiter,
    pub secure_cookies: bool,
    pub host: HostSampler,
}

/// The admin account the password flag manages.
pub const ADMIN: &str = "admin";

impl Ui {
    pub fn open(
        engine: Arc<engine::Engine>,
        swarm: Arc<swarm::node::Swarm>,
        berth: api::routes::Berth,
        opts: &UiOptions,
    ) -> Result<Ui, UiError> {
        let users = UserStore::open(&opts.data_root.join("ui"))?;
        if let Some(pw) = &opts.admin_password {
            users.set_password(ADMIN, pw.trim_end_matches(['\n', '\r']))?;
        }
        Ok(Ui {
            docker: api::router(engine.clone(), swarm, berth),
            host: HostSampler::new(opts.data_root.clone()),
            engine,
            users,
            sessions: Sessions::default(),
            // Five tries at once, then one every 12 s: a typo costs nothing,
            // a guessing loop gets 300 tries an hour.
            logins: RateLimiter::new(5, Duration::from_secs(12)),
            secure_cookies: opts.tls,
        })
    }
}
