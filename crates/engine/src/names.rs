//! Container ids and generated names.

use rand::Rng;

pub fn new_id() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

// Our own short word lists; Docker's style is "adjective_noun".
const ADJECTIVES: &[&str] = &[
    "amber",
    "brave",
    "calm",
    "dapper",
    "eager",
    "fancy",
    "gentle",
    "happy",
    "icy",
    "jolly",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "odd",
    "proud",
    "quiet",
    "rapid",
    "sunny",
    "tidy",
    "upbeat",
    "vivid",
    "witty",
    "young",
    "zesty",
    "bold",
    "crisp",
    "deft",
    "frank",
    "grand",
    "agile",
    "breezy",
    "cheerful",
    "daring",
    "earnest",
    "fearless",
    "glad",
    "hardy",
    "ideal",
    "jovial",
    "kind",
    "loyal",
    "mellow",
    "noble",
    "optimal",
    "patient",
    "quick",
    "radiant",
    "serene",
    "steady",
    "trusty",
    "unruffled",
    "valiant",
    "warm",
    "zealous",
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
    "hull",
    "inlet",
    "jib",
    "ketch",
    "lighthouse",
    "mast",
    "narrows",
    "outrigger",
    "pontoon",
    "rudder",
    "schooner",
    "sextant",
    "skiff",
    "sloop",
    "strait",
    "tugboat",
    "wake",
    "windlass",
    "capstan",
    "bollard",
];

pub fn random_name() -> String {
    let mut rng = rand::rng();
    format!(
        "{}_{}",
        ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
        NOUNS[rng.random_range(0..NOUNS.len())]
    )
}

/// Random draws before a name falls back to the container's short id.
const NAME_DRAWS: usize = 8;

/// A generated name that `taken` does not refuse, as dockerd makes one:
/// a few random draws, later ones with a digit appended (dockerd's retries
/// do the same), then the short id, unique with the id, then the short id
/// with a counter. The word lists allow a few thousand names: past them a
/// name must still come, and at once (the registry is locked meanwhile).
pub fn generate_name(id: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut rng = rand::rng();
    let drawn = (0..NAME_DRAWS).map(|draw| match draw {
        0 => random_name(),
        _ => format!("{}{}", random_name(), rng.random_range(0..10)),
    });
    let short = id.get(..12).unwrap_or(id).to_string();
    let fallbacks = std::iter::once(short.clone()).chain((1..).map(|n| format!("{short}_{n}")));
    drawn
        .chain(fallbacks)
        .find(|candidate| !taken(candidate))
        .expect("the names in use are finite")
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

    #[test]
    fn a_name_comes_at_once_when_every_word_pair_is_taken() {
        let id = new_id();
        let free = generate_name(&id, |_| false);
        assert!(valid_name(&free) && free.contains('_'), "{free}");
        // Every drawn name taken: the short id, as dockerd falls back.
        let words = |n: &str| {
            n.chars()
                .any(|c| c.is_ascii_lowercase() && !c.is_ascii_hexdigit())
        };
        assert_eq!(generate_name(&id, words), id[..12]);
        // And the short id taken too (a user may name a container anything).
        let short = id[..12].to_string();
        let name = generate_name(&id, |n| words(n) || n == short);
        assert_eq!(name, format!("{short}_1"));
        assert!(valid_name(&name));
    }
}
