//! The events bus: a broadcast for live subscribers plus a bounded history so
//! `docker events --since` can replay.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept for replay: dockerd's number (`eventsLimit` in moby's
/// `daemon/events`). More would outlive what clients ask for and, at a
/// thousand containers' churn, keep megabytes of small strings scattered
/// over the heap, which no trim can give back.
const HISTORY: usize = 256;

#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// Docker's event message (`GET /events`), fields in dockerd's order.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    // Deprecated fields old clients still read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

pub struct EventBus {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(1024);
        EventBus {
            tx,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }
}

impl EventBus {
    pub fn publish(&self, kind: &str, action: &str, id: &str, attributes: HashMap<String, String>) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let legacy = kind == "container" || kind == "image";
        let event = Event {
            kind: kind.to_string(),
            action: action.to_string(),
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: attributes
                .get("image")
                .cloned()
                .filter(|_| kind == "container"),
            actor: Actor {
                id: id.to_string(),
                attributes: attributes.into_iter().collect(),
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        };
        let mut history = self.history.lock();
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(event.clone());
        // Sending under the history lock keeps replay + live stream free of gaps and duplicates.
        let _ = self.tx.send(event);
    }

    /// Past events (oldest first) and a receiver for every later one.
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let history = self.history.lock();
        (history.iter().cloned().collect(), self.tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_the_latest_events_as_dockerd_does() {
        let bus = EventBus::default();
        for i in 0..HISTORY + 44 {
            bus.publish("container", "create", &format!("c{i}"), HashMap::new());
        }
        let (past, mut live) = bus.subscribe();
        assert_eq!(past.len(), 256, "dockerd's eventsLimit");
        assert_eq!(past[0].actor.id, "c44", "the oldest ones went");
        assert_eq!(past[255].actor.id, format!("c{}", HISTORY + 43));
        bus.publish("container", "start", "c-live", HashMap::new());
        assert_eq!(live.try_recv().unwrap().actor.id, "c-live");
    }
}
