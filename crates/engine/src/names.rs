//! Container ids and generated names.

use rand::Rng;

pub fn new_id() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

// Our own short word lists; Docker's style is "adjective_noun".
const ADJECTIVES: &[&str] = &[
    "amber", "brave", "calm", "dapper", "eager", "fancy", "gentle", "happy", "icy", "jolly",
    "keen", "lucid", "merry", "nimble", "odd", "proud", "quiet", "rapid", "sunny", "tidy",
    "upbeat", "vivid", "witty", "young", "zesty", "bold", "crisp", "deft", "frank", "grand",
];
const NOUNS: &[&str] = &[
    "anchor",
    "beacon",
    "cove",
    "dock",
    "estuary",
    "ferry",
    "galley",
    "harbor",
    "island",
    "jetty",
    "keel",
    "lagoon",
    "mooring",
    "navigator",
    "oar",
    "pier",
    "quay",
    "reef",
    "sail",
    "tide",
    "umiak",
    "voyage",
    "wharf",
    "yawl",
    "zenith",
    "buoy",
    "canal",
    "dinghy",
    "fjord",
    "gull",
];

pub fn random_name() -> String {
    let mut rng = rand::rng();
    format!(
        "{}_{}",
        ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
        NOUNS[rng.random_range(0..NOUNS.len())]
    )
}

/// Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    name.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, new_id());
    }

    #[test]
    fn name_rules() {
        assert!(valid_name("web"));
        assert!(valid_name("a1_b.c-d"));
        assert!(!valid_name("a"));
        assert!(!valid_name("_web"));
        assert!(!valid_name("we b"));
        assert!(!valid_name("web/x"));
        assert!(valid_name(&random_name()));
    }
}
