//! Query-string helpers with Docker's conventions.

use std::collections::{BTreeMap, HashMap};

use crate::{ApiError, ApiResult};

/// All query pairs, repeated keys kept (e.g. `changes=` of import).
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
            .unwrap_or_default();
        Params(pairs)
    }

    /// The first value, as Go's `FormValue` gives dockerd (docker-py sends
    /// `dockerfile` twice and means the first).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Docker's boolean query values: "1"/"true"/"True" are true, absent is `default`.
    pub fn bool(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(v) => !matches!(v, "" | "0" | "false" | "False" | "FALSE"),
        }
    }

    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
        }
    }

    /// `filters` as JSON: `{"k":["v"]}` or the legacy `{"k":{"v":true}}`.
    pub fn filters(&self) -> ApiResult<Filters> {
        let Some(raw) = self.get("filters").filter(|v| !v.is_empty()) else {
            return Ok(Filters::default());
        };
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| ApiError::bad_request("invalid filter: not an object"))?;
        let mut out = HashMap::new();
        for (k, v) in obj {
            let values: Vec<String> = match v {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                serde_json::Value::Object(o) => o.keys().cloned().collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter value for {k}"
                    )));
                }
            };
            out.insert(k.clone(), values);
        }
        Ok(Filters(out))
    }
}

#[derive(Debug, Default, Clone)]
pub struct Filters(pub HashMap<String, Vec<String>>);

impl Filters {
    pub fn values(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// True when the filter `key` is absent or any of its values satisfies `f`.
    /// A boolean filter ("dangling"): none given, or the one value all agree
    /// on; anything but true/false/1/0 is refused as dockerd refuses it.
    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        let values = self.values(key);
        let mut out = None;
        for v in values {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid filter '{key}=[{}]'",
                        values.join(" ")
                    )));
                }
            };
            out = Some(b);
        }
        Ok(out)
    }

    pub fn any(&self, key: &str, f: impl Fn(&str) -> bool) -> bool {
        let values = self.values(key);
        values.is_empty() || values.iter().any(|v| f(v))
    }

    /// Label filters: "key" or "key=value", all must hold.
    pub fn labels_match(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.values(key).iter().all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(f.as_str()),
        })
    }

    pub fn check_keys(&self, allowed: &[&str]) -> ApiResult<()> {
        for k in self.0.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
            }
        }
        Ok(())
    }
}

pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_and_repeats() {
        let p = Params::parse(Some(
            "all=1&force=false&changes=CMD%20x&changes=ENV%20a%3Db",
        ));
        assert!(p.bool("all", false));
        assert!(!p.bool("force", true));
        assert!(p.bool("missing", true));
        assert_eq!(p.all("changes"), vec!["CMD x", "ENV a=b"]);
    }

    #[test]
    fn filters_both_shapes() {
        let p = Params::parse(Some("filters=%7B%22status%22%3A%5B%22running%22%5D%7D"));
        assert_eq!(p.filters().unwrap().values("status"), ["running"]);
        let p = Params::parse(Some("filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D"));
        let f = p.filters().unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "b".to_string());
        assert!(f.labels_match("label", &labels));
        labels.insert("a".to_string(), "c".to_string());
        assert!(!f.labels_match("label", &labels));
        assert!(Params::parse(Some("filters=nope")).filters().is_err());
    }
}
