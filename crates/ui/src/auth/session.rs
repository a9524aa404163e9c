//! Login sessions: a random token in an HttpOnly cookie names a session,
//! which carries its own CSRF token (sent back by the page in a header on
//! every state-changing request) and expires after a period of disuse.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;

use super::users::Role;

/// How long a session lives without a request.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub csrf: String,
    last_seen: Instant,
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// 256 random bits, hex: unguessable, and safe in a cookie or a header.
pub fn token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

impl Sessions {
    /// A new session for `user`; returns its cookie token.
    pub fn create(&self, user: &str, role: Role, now: Instant) -> String {
        let id = token();
        let mut map = self.map.lock();
        map.retain(|_, s| now.duration_since(s.last_seen) < IDLE);
        map.insert(
            id.clone(),
            Session {
                user: user.to_string(),
                role,
                csrf: token(),
                last_seen: now,
            },
        );
        id
    }

    /// The live session named by `id`, refreshed; an expired one is removed.
    pub fn get(&self, id: &str, now: Instant) -> Option<Session> {
        let mut map = self.map.lock();
        let s = map.get_mut(id)?;
        if now.duration_since(s.last_seen) >= IDLE {
            map.remove(id);
            return None;
        }
        s.last_seen = now;
        Some(s.clone())
    }

    pub fn remove(&self, id: &str) {
        self.map.lock().remove(id);
    }

    /// Ends every session of `user` (a removed account).
    pub fn remove_user(&self, user: &str) {
        self.map.lock().retain(|_, s| s.user != user);
    }
}

/// Whether a request's CSRF header matches its session's token, compared in
/// constant time so the comparison leaks nothing of the token.
pub fn csrf_ok(session: &Session, sent: Option<&str>) -> bool {
    let Some(sent) = sent else { return false };
    let (a, b) = (session.csrf.as_bytes(), sent.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_live_until_idle_then_vanish() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let id = s.create("admin", Role::Admin, t0);
        assert_eq!(id.len(), 64);
        let got = s.get(&id, t0 + Duration::from_secs(60)).unwrap();
        assert_eq!(got.user, "admin");
        // Each use pushes the expiry forward.
        assert!(s.get(&id, t0 + IDLE + Duration::from_secs(30)).is_some());
        assert!(s.get(&id, t0 + IDLE * 3).is_none());
        assert!(
            s.get(&id, t0).is_none(),
            "an expired session is gone for good"
        );
        assert!(s.get("forged", t0).is_none());
    }

    #[test]
    fn logout_removes_and_tokens_differ() {
        let s = Sessions::default();
        let now = Instant::now();
        let a = s.create("admin", Role::Admin, now);
        let b = s.create("admin", Role::Admin, now);
        assert_ne!(a, b);
        assert_ne!(s.get(&a, now).unwrap().csrf, s.get(&b, now).unwrap().csrf);
        s.remove(&a);
        assert!(s.get(&a, now).is_none());
        assert!(s.get(&b, now).is_some());
        let v = s.create("eve", Role::Viewer, now);
        s.remove_user("admin");
        assert!(s.get(&b, now).is_none(), "a removed account's sessions end");
        assert_eq!(s.get(&v, now).unwrap().role, Role::Viewer);
    }

    #[test]
    fn csrf_needs_the_exact_token() {
        let s = Sessions::default();
        let now = Instant::now();
        let id = s.create("admin", Role::Admin, now);
        let session = s.get(&id, now).unwrap();
        assert!(csrf_ok(&session, Some(&session.csrf)));
        assert!(!csrf_ok(&session, None));
        assert!(!csrf_ok(&session, Some("")));
        assert!(!csrf_ok(&session, Some(&session.csrf[1..])));
        let mut flipped = session.csrf.clone().into_bytes();
        flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
        assert!(!csrf_ok(
            &session,
            Some(std::str::from_utf8(&flipped).unwrap())
        ));
    }

    #[test]
    fn cookie_header_parsing() {
        assert_eq!(
            cookie("a=1; berth_session=xyz; b=2", "berth_session"),
            Some("xyz")
        );
        assert_eq!(cookie("berth_session_x=1", "berth_session"), None);
        assert_eq!(cookie("", "berth_session"), None);
    }
}
