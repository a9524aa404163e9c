//! One backend (a container's address) and what the proxy learned of it:
//! requests in flight (least-requests balancing) and consecutive failures
//! (passive outlier ejection), and its HTTP/2 connection when its route
//! speaks h2c. Kept across route table rebuilds; the connection closes once
//! the backend left the table and its last request ended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::h2pool::H2Conn;

#[derive(Debug)]
pub struct Backend {
    pub container_id: String,
    pub container_name: String,
    pub addr: SocketAddr,
    /// `addr` as requests to it name it.
    pub(crate) authority: hyper::http::uri::Authority,
    in_flight: AtomicUsize,
    consecutive_failures: AtomicU32,
    requests: AtomicU64,
    ejected_until: Mutex<Option<Instant>>,
    pub(crate) h2: H2Conn,
}

/// `addr` as a URI names it, without an IPv6 zone: RFC 3986 has no syntax
/// for one, and containers' addresses have none.
fn authority_of(addr: SocketAddr) -> hyper::http::uri::Authority {
    let text = match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    text.parse()
        .expect("an IP address and a port make an authority")
}

impl Backend {
    pub fn new(container_id: &str, container_name: &str, addr: SocketAddr) -> Backend {
        Backend {
            container_id: container_id.to_string(),
            container_name: container_name.to_string(),
            addr,
            authority: authority_of(addr),
            in_flight: AtomicUsize::new(0),
            consecutive_failures: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            ejected_until: Mutex::new(None),
            h2: H2Conn::default(),
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.lock().is_some_and(|until| now < until)
    }

    /// Counts a request as in flight until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    pub fn succeeded(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    /// A gateway failure (no connection, no answer in time); the
    /// `max_fails`th in a row ejects the backend for `fail_timeout`. True
    /// when this one ejected it.
    pub fn failed(&self, now: Instant, max_fails: u32, fail_timeout: Duration) -> bool {
        let n = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n < max_fails {
            return false;
        }
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let mut until = self.ejected_until.lock();
        // Requests sent before it was ejected keep failing: they neither
        // extend the ejection nor announce it again.
        if until.is_some_and(|u| now < u) {
            return false;
        }
        *until = Some(now + fail_timeout);
        true
    }
}

/// A request in flight to a backend.
#[derive(Debug)]
pub struct InFlight(Arc<Backend>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejected_after_max_fails_in_a_row_and_back_after_fail_timeout() {
        let b = Backend::new("id", "web", "10.0.0.2:80".parse().unwrap());
        let t0 = Instant::now();
        let window = Duration::from_secs(10);
        assert!(!b.failed(t0, 3, window));
        b.succeeded();
        assert!(!b.failed(t0, 3, window));
        assert!(!b.failed(t0, 3, window));
        assert!(!b.is_ejected(t0), "a success reset the streak");
        assert!(b.failed(t0, 3, window));
        assert!(b.is_ejected(t0 + Duration::from_secs(9)));
        assert!(!b.is_ejected(t0 + Duration::from_secs(10)));
        // Failures of requests sent before the ejection do not extend it.
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..3 {
            assert!(!b.failed(t1, 3, window), "ejected once, announced once");
        }
        assert!(!b.is_ejected(t0 + Duration::from_secs(10)));
        // Once back, three more failures eject it again.
        let t2 = t0 + Duration::from_secs(11);
        assert!(!b.failed(t2, 3, window));
        assert!(!b.failed(t2, 3, window));
        assert!(b.failed(t2, 3, window));
    }

    #[test]
    fn in_flight_counts_until_the_guard_drops() {
        let b = Arc::new(Backend::new("id", "web", "10.0.0.2:80".parse().unwrap()));
        let g1 = b.begin();
        let g2 = b.begin();
        assert_eq!(b.in_flight(), 2);
        drop(g1);
        assert_eq!(b.in_flight(), 1);
        drop(g2);
        assert_eq!(b.in_flight(), 0);
        assert_eq!(b.requests(), 2);
    }
}
