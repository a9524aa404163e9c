//! The small types every swarm object shares (`Version`, `Meta`,
//! `Annotations`, `Driver`, `TLSInfo`) and the JSON conventions of Go's
//! `encoding/json` that the Docker API inherits: timestamps as RFC 3339 with
//! trimmed nanoseconds, `[]byte` as base64, `omitempty` predicates.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An object's version: the store's modification index. Clients send it
/// back with `?version=` so that concurrent updates are detected.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "PascalCase", default)]
pub struct Version {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub index: u64,
}

/// Version and times of a stored object (Go embeds it, so its fields sit
/// beside the object's own).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Meta {
    pub version: Version,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Name and labels of a spec. Go marshals `Labels` without `omitempty`;
/// dockerd always answers with a map (`{}` when empty), never `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Annotations {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
}

/// A named driver with options (log drivers, secret drivers, IPAM).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Driver {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// The trust root and issuer of a node's or the cluster's certificates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TlsInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub trust_root: String,
    #[serde(skip_serializing_if = "Vec::is_empty", with = "base64_bytes")]
    pub cert_issuer_subject: Vec<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty", with = "base64_bytes")]
    pub cert_issuer_public_key: Vec<u8>,
}

/// A point in time as Go's `time.Time` marshals it. The default is Go's
/// zero time (`0001-01-01T00:00:00Z`), which dockerd prints for unset times
/// because `omitempty` never omits a struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Go's zero time.
    pub fn zero() -> Self {
        let date = NaiveDate::from_ymd_opt(1, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
        // 0001-01-01 is inside chrono's range; the fallback is never taken.
        Timestamp(date.map_or(DateTime::<Utc>::MIN_UTC, |d| d.and_utc()))
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::zero()
    }

    /// Seconds and nanoseconds since the Unix epoch, for tests and callers
    /// that keep time as numbers.
    pub fn from_unix(secs: i64, nanos: u32) -> Self {
        Timestamp(DateTime::from_timestamp(secs, nanos).unwrap_or(DateTime::<Utc>::MIN_UTC))
    }

    /// This time moved by a Go duration in nanoseconds (saturating).
    pub fn add_nanos(&self, nanos: i64) -> Self {
        Timestamp(
            self.0
                .checked_add_signed(Duration::nanoseconds(nanos))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }

    /// Nanoseconds from `earlier` to this time (negative when earlier is later).
    pub fn nanos_since(&self, earlier: &Timestamp) -> i64 {
        let d = self.0.signed_duration_since(earlier.0);
        d.num_nanoseconds().unwrap_or(if d > Duration::zero() {
            i64::MAX
        } else {
            i64::MIN
        })
    }

    /// RFC 3339 with up to nine fractional digits and trailing zeros
    /// trimmed, exactly as Go's `time.RFC3339Nano`.
    pub fn to_rfc3339_nano(&self) -> String {
        let full = self.0.to_rfc3339_opts(SecondsFormat::Nanos, true);
        // "....ss.nnnnnnnnnZ": trim zeros of the fraction, then a lone dot.
        match full.strip_suffix('Z').and_then(|s| s.rsplit_once('.')) {
            Some((head, frac)) => {
                let frac = frac.trim_end_matches('0');
                if frac.is_empty() {
                    format!("{head}Z")
                } else {
                    format!("{head}.{frac}Z")
                }
            }
            None => full,
        }
    }
}

impl Default for Timestamp {
    fn default() -> Self {
        Self::zero()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_nano())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339_nano())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| Timestamp(t.with_timezone(&Utc)))
            .map_err(|e| serde::de::Error::custom(format!("parsing time {s:?}: {e}")))
    }
}

/// `[]byte` fields: Go marshals them as standard base64 (with padding).
pub mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s {
            None => Ok(Vec::new()),
            Some(s) => STANDARD
                .decode(s.as_bytes())
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Go decodes `null` into a map or slice as its zero value; serde would
/// reject it for a non-`Option` field.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

pub fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

pub fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

pub fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

pub fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

pub fn is_false(v: &bool) -> bool {
    !*v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_trim_like_go() {
        let t = Timestamp::from_unix(1_796_338_211, 123_456_789);
        assert_eq!(t.to_rfc3339_nano(), "2026-12-03T22:50:11.123456789Z");
        assert_eq!(
            Timestamp::from_unix(1_796_338_211, 100_000_000).to_rfc3339_nano(),
            "2026-12-03T22:50:11.1Z"
        );
        assert_eq!(
            Timestamp::from_unix(1_796_338_211, 0).to_rfc3339_nano(),
            "2026-12-03T22:50:11Z"
        );
        assert_eq!(Timestamp::zero().to_rfc3339_nano(), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn timestamps_round_trip() {
        for s in [
            "2026-12-03T22:50:11.123456789Z",
            "0001-01-01T00:00:00Z",
            "2026-01-02T03:04:05.5Z",
        ] {
            let t: Timestamp = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{s}\""));
        }
        let t: Timestamp = serde_json::from_str("\"2026-01-02T04:04:05+01:00\"").unwrap();
        assert_eq!(t.to_string(), "2026-01-02T03:04:05Z");
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        assert!(Timestamp::default().is_zero());
    }

    #[test]
    fn timestamp_arithmetic() {
        let t = Timestamp::from_unix(100, 0);
        assert_eq!(
            t.add_nanos(1_500_000_000),
            Timestamp::from_unix(101, 500_000_000)
        );
        assert_eq!(t.add_nanos(1_500_000_000).nanos_since(&t), 1_500_000_000);
        assert_eq!(t.nanos_since(&t.add_nanos(7)), -7);
    }

    #[test]
    fn annotations_labels_always_present() {
        let a = Annotations::default();
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"Labels":{}}"#);
        let a: Annotations = serde_json::from_str(r#"{"Name":"x","Labels":null}"#).unwrap();
        assert_eq!(a.name, "x");
        assert!(a.labels.is_empty());
    }

    #[test]
    fn version_and_meta() {
        let m = Meta {
            version: Version { index: 12 },
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"Version":{"Index":12},"CreatedAt":"0001-01-01T00:00:00Z","UpdatedAt":"0001-01-01T00:00:00Z"}"#
        );
        assert_eq!(serde_json::to_string(&Version::default()).unwrap(), "{}");
    }

    #[test]
    fn bytes_are_base64() {
        let t = TlsInfo {
            cert_issuer_subject: b"abc".to_vec(),
            ..Default::default()
        };
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(s, r#"{"CertIssuerSubject":"YWJj"}"#);
        let back: TlsInfo = serde_json::from_str(&s).unwrap();
        assert_eq!(back, t);
    }
}
