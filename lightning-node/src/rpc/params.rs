//! Parameters as CLN takes them: positional (an array in the method's
//! parameter order, `null` for "not given") or named (an object whose keys
//! are the parameter names); amounts as integers or strings with a unit.

use std::collections::BTreeMap;

use serde_json::Value;

use super::RpcError;

/// A method's parameters by name, `null`s dropped.
#[derive(Debug)]
pub(crate) struct Params {
    map: BTreeMap<&'static str, Value>,
}

impl Params {
    /// Maps `params` onto `names` (the method's order).
    pub(crate) fn parse(params: &Value, names: &[&'static str]) -> Result<Params, RpcError> {
        let mut map = BTreeMap::new();
        match params {
            Value::Null => {}
            Value::Array(items) => {
                if items.len() > names.len() {
                    return Err(RpcError::params(format!(
                        "too many parameters: got {}, expected at most {}",
                        items.len(),
                        names.len()
                    )));
                }
                for (name, v) in names.iter().zip(items) {
                    if !v.is_null() {
                        map.insert(*name, v.clone());
                    }
                }
            }
            Value::Object(obj) => {
                for (k, v) in obj {
                    let Some(name) = names.iter().find(|n| **n == k.as_str()) else {
                        return Err(RpcError::params(format!("unknown parameter: {k}")));
                    };
                    if !v.is_null() {
                        map.insert(*name, v.clone());
                    }
                }
            }
            _ => return Err(RpcError::params("params must be an array or an object")),
        }
        Ok(Params { map })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    fn required(&self, name: &str) -> Result<&Value, RpcError> {
        self.get(name)
            .ok_or_else(|| RpcError::params(format!("missing required parameter: {name}")))
    }

    /// A string (a number is taken as its decimal string, as CLN does for
    /// labels).
    pub(crate) fn string(&self, name: &str) -> Result<Option<String>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(RpcError::params(format!("{name}: should be a string"))),
        }
    }

    /// A JSON string, and nothing else.
    pub(crate) fn text(&self, name: &str) -> Result<Option<String>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(RpcError::params(format!("{name}: should be a string"))),
        }
    }

    pub(crate) fn req_text(&self, name: &str) -> Result<String, RpcError> {
        self.text(name)?
            .ok_or_else(|| RpcError::params(format!("missing required parameter: {name}")))
    }

    pub(crate) fn req_string(&self, name: &str) -> Result<String, RpcError> {
        self.required(name)?;
        self.string(name)?
            .ok_or_else(|| RpcError::params(format!("missing required parameter: {name}")))
    }

    /// A non-negative integer (a decimal string too).
    pub(crate) fn u64(&self, name: &str) -> Result<Option<u64>, RpcError> {
        let bad = || RpcError::params(format!("{name}: should be an unsigned integer"));
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) => s.parse().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    pub(crate) fn bool(&self, name: &str) -> Result<Option<bool>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(_) => Err(RpcError::params(format!("{name}: should be a boolean"))),
        }
    }

    /// An amount in millisatoshis.
    pub(crate) fn msat(&self, name: &str) -> Result<Option<u64>, RpcError> {
        self.get(name).map(|v| parse_msat(name, v)).transpose()
    }

    /// An amount in satoshis.
    pub(crate) fn sat(&self, name: &str) -> Result<Option<u64>, RpcError> {
        self.get(name).map(|v| parse_sat(name, v)).transpose()
    }

    /// A number (JSON number, or a string holding one), such as
    /// `maxfeepercent`.
    pub(crate) fn number(&self, name: &str) -> Result<Option<f64>, RpcError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() => Ok(Some(n)),
            _ => Err(RpcError::params(format!("{name}: should be a number"))),
        }
    }

    /// Refuses a parameter this node cannot honour.
    pub(crate) fn unsupported(&self, names: &[&str]) -> Result<(), RpcError> {
        for n in names {
            if self.get(n).is_some() {
                return Err(RpcError::params(format!("{n}: not supported by this node")));
            }
        }
        Ok(())
    }
}

fn parse_btc_msat(digits: &str) -> Option<u64> {
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if frac.len() > 11 || whole.is_empty() && frac.is_empty() {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut frac_s = frac.to_owned();
    while frac_s.len() < 11 {
        frac_s.push('0');
    }
    let frac: u64 = if frac_s.is_empty() {
        0
    } else {
        frac_s.parse().ok()?
    };
    whole.checked_mul(100_000_000_000)?.checked_add(frac)
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `123` (msat), `"123"`, `"123msat"`, `"5sat"`, `"0.001btc"`.
pub(crate) fn parse_msat(name: &str, v: &Value) -> Result<u64, RpcError> {
    let bad = || RpcError::params(format!("{name}: should be a millisatoshi amount"));
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(bad),
        Value::String(s) => {
            if let Some(d) = s.strip_suffix("msat") {
                digits(d).ok_or_else(bad)
            } else if let Some(d) = s.strip_suffix("sat") {
                digits(d).and_then(|x| x.checked_mul(1000)).ok_or_else(bad)
            } else if let Some(d) = s.strip_suffix("btc") {
                parse_btc_msat(d).ok_or_else(bad)
            } else {
                digits(s).ok_or_else(bad)
            }
        }
        _ => Err(bad()),
    }
}

/// `123` (sat), `"123"`, `"123sat"`, `"123000msat"`, `"0.001btc"`.
pub(crate) fn parse_sat(name: &str, v: &Value) -> Result<u64, RpcError> {
    let bad = || RpcError::params(format!("{name}: should be a satoshi amount"));
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(bad),
        Value::String(s) => {
            let msat = if let Some(d) = s.strip_suffix("msat") {
                digits(d).ok_or_else(bad)?
            } else if let Some(d) = s.strip_suffix("sat") {
                return digits(d).ok_or_else(bad);
            } else if let Some(d) = s.strip_suffix("btc") {
                parse_btc_msat(d).ok_or_else(bad)?
            } else {
                return digits(s).ok_or_else(bad);
            };
            if msat % 1000 != 0 {
                return Err(RpcError::params(format!(
                    "{name}: not a whole number of satoshis"
                )));
            }
            Ok(msat / 1000)
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts() {
        assert_eq!(parse_msat("a", &json!(5)).unwrap(), 5);
        assert_eq!(parse_msat("a", &json!("5")).unwrap(), 5);
        assert_eq!(parse_msat("a", &json!("5msat")).unwrap(), 5);
        assert_eq!(parse_msat("a", &json!("5sat")).unwrap(), 5000);
        assert_eq!(parse_msat("a", &json!("0.001btc")).unwrap(), 100_000_000);
        assert!(parse_msat("a", &json!(-1)).is_err());
        assert!(parse_msat("a", &json!("x")).is_err());
        assert!(parse_msat("a", &json!(1.5)).is_err());
        assert!(parse_msat("a", &json!("99999999999999999999999")).is_err());
        assert_eq!(parse_sat("a", &json!("2000msat")).unwrap(), 2);
        assert!(parse_sat("a", &json!("2001msat")).is_err());
        assert_eq!(parse_sat("a", &json!(7)).unwrap(), 7);
    }

    #[test]
    fn positional_and_named() {
        let names = ["a", "b", "c"];
        let p = Params::parse(&json!([1, null, "x"]), &names).unwrap();
        assert_eq!(p.u64("a").unwrap(), Some(1));
        assert!(p.get("b").is_none());
        assert_eq!(p.string("c").unwrap().as_deref(), Some("x"));
        assert!(Params::parse(&json!([1, 2, 3, 4]), &names).is_err());
        assert!(Params::parse(&json!({"d": 1}), &names).is_err());
        assert!(Params::parse(&json!("x"), &names).is_err());
        let p = Params::parse(&json!({"b": true}), &names).unwrap();
        assert_eq!(p.bool("b").unwrap(), Some(true));
        assert!(p.req_string("a").is_err());
    }
}
