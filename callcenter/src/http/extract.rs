//! Extractors that refuse bad input with a JSON error naming the field.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest JSON body accepted on any route.
pub const MAX_BODY: usize = 1024 * 1024;

/// A JSON body: malformed JSON → 400; a wrong type, unknown field or invalid value → 422 naming the
/// field's path; anything but `application/json` → 415.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(None, format!("cannot read body: {e}"))
            }
        })?;
        parse_json(&bytes).map(Body)
    }
}

/// The request says its body is `application/json`.
pub fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
}

fn too_large() -> ApiError {
    ApiError::too_large("body", format!("a request body may have at most {MAX_BODY} bytes"))
}

/// Does this JSON text hold an escaped NUL (`\u0000`) in a string? Backslash pairs are skipped,
/// so an escaped backslash followed by `u0000` is not one.
fn has_nul_escape(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// The JSON path of the first string (or object key) holding a NUL.
fn nul_path(v: &serde_json::Value, path: &mut String) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = nul_path(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Object(map) => map.iter().any(|(k, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            let found = k.contains('\0') || nul_path(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        _ => false,
    }
}

/// A NUL character is never valid text here (PostgreSQL cannot store it, and no form sends
/// it): refused at the edge, for every route, naming the field.
/// `bytes` is the text `v` was parsed from (a quick look for `\u0000` spares the walk).
fn refuse_nul(bytes: &[u8], v: &serde_json::Value) -> Result<(), ApiError> {
    if !has_nul_escape(bytes) {
        return Ok(());
    }
    let mut path = String::new();
    if nul_path(v, &mut path) {
        // The path may run through a key holding the NUL; the answer never carries one.
        let path = path.replace('\0', "\u{fffd}");
        let field = if path.is_empty() { ".".to_string() } else { path };
        return Err(ApiError::invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// The largest magnitude up to which every integer is exact in an `f64` (2^53).
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// JSON has one kind of number: `3.0` is the integer 3 (as JSON Schema says), so a number with
/// no fraction is given to the field as an integer; serde would refuse `3.0` for an `i64`.
fn integral_numbers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= MAX_EXACT) {
                *n = serde_json::Number::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// Parse JSON, telling syntax errors (400) from content errors (422, with the field path).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value = match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) => v,
        Err(e) => {
            return Err(ApiError::bad_request(
                None,
                format!("malformed JSON: {}", strip_position(&e.to_string())),
            ))
        }
    };
    refuse_nul(bytes, &value)?;
    integral_numbers(&mut value);
    match serde_path_to_error::deserialize::<_, T>(super::strict::Strict(value)) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = strip_position(&inner.to_string());
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let field = if path == "." {
                        missing_field(&msg).unwrap_or(path)
                    } else {
                        path
                    };
                    Err(ApiError::invalid(field, msg))
                }
                _ => Err(ApiError::bad_request(None, format!("malformed JSON: {msg}"))),
            }
        }
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// serde reports a missing field at the parent's path; name the field itself.
fn missing_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// Query parameters; a bad one → 400 naming the parameter.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        if let Some((k, _)) = form_urlencoded::parse(q.as_bytes()).find(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(ApiError::invalid(
                k.replace('\0', ""),
                "must not contain NUL characters",
            ));
        }
        // A record's key is a positive integer, whatever the route (`12.0` is 12).
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            if super::contract::is_key(&k) {
                match parse_key(&v) {
                    Some(n) if n > 0 => pairs.append_pair(&k, &n.to_string()),
                    Some(_) => {
                        return Err(ApiError::bad_request(
                            Some(&k),
                            format!("{k} must be a positive integer"),
                        ))
                    }
                    None => pairs.append_pair(&k, &v),
                };
            } else {
                pairs.append_pair(&k, &v);
            }
        }
        let q = pairs.finish();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(de).map(Params).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.into_inner().to_string();
            let field = if path == "." {
                missing_field(&msg).unwrap_or(path)
            } else {
                path
            };
            ApiError::bad_request(Some(&field), msg)
        })
    }
}

/// An integer as a URL spells it; `12.0` is 12, as in JSON Schema.
fn parse_key(raw: &str) -> Option<i64> {
    let digits = match raw.split_once('.') {
        Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        Some(_) => return None,
        None => raw,
    };
    digits.parse().ok()
}

/// A numeric `{id}` in the path; anything else → 400.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request(Some("id"), "missing id"))?;
        parse_key(&raw)
            .filter(|v| *v > 0)
            .map(Id)
            .ok_or_else(|| ApiError::bad_request(Some("id"), "id must be a positive integer"))
    }
}

/// Two numeric ids in the path (`/claims/{id}/lines/{line_id}`); anything else → 400 naming it.
pub struct Ids(pub i64, pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path((a, b)) = axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request(Some("id"), "missing id"))?;
        let key = |raw: &str, name: &'static str| {
            parse_key(raw)
                .filter(|v| *v > 0)
                .ok_or_else(|| ApiError::bad_request(Some(name), format!("{name} must be a positive integer")))
        };
        Ok(Ids(key(&a, "id")?, key(&b, "line_id")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Form {
        name: String,
        tags: Vec<String>,
    }

    #[test]
    fn nul_characters_are_refused_naming_the_field() {
        let e = parse_json::<Form>(br#"{"name": "a\u0000b", "tags": []}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.body.field.as_deref()), (422, Some("name")));
        let e = parse_json::<Form>(br#"{"name": "ok", "tags": ["x", "\u0000"]}"#).unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("tags[1]"));
        // An escaped backslash before u0000 is the text \u0000, not a NUL.
        let ok = parse_json::<Form>(br#"{"name": "a\\u0000", "tags": []}"#).unwrap();
        assert_eq!(ok.name, "a\\u0000");
    }

    #[test]
    fn keys_in_urls() {
        assert_eq!(parse_key("12"), Some(12));
        assert_eq!(parse_key("12.00"), Some(12));
        assert_eq!(parse_key("-3.0"), Some(-3));
        for bad in ["12.5", "12.", "1e3", "", "x", "12.0.0"] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_number_without_fraction_is_an_integer() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Counts {
            n: u32,
            ids: Vec<i64>,
            hours: f64,
        }
        let c = parse_json::<Counts>(br#"{"n": 3.0, "ids": [1.0, -2], "hours": 1.5}"#).unwrap();
        assert_eq!(
            c,
            Counts {
                n: 3,
                ids: vec![1, -2],
                hours: 1.5
            }
        );
        let e = parse_json::<Counts>(br#"{"n": 3.5, "ids": [], "hours": 1}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.body.field.as_deref()), (422, Some("n")));
        let e = parse_json::<Counts>(br#"{"n": 3, "ids": [1, 2.5], "hours": 1}"#).unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("ids[1]"));
        let e = parse_json::<Counts>(br#"{"n": 3,"#).unwrap_err();
        assert_eq!(e.status.as_u16(), 400, "malformed");
        // Every integer an f64 holds exactly counts, up to 2^53 (a fuzzer sent 2^53 - 1 as a float).
        let c =
            parse_json::<Counts>(br#"{"n": 1, "ids": [9007199254740991.0, -9007199254740992.0], "hours": 0}"#).unwrap();
        assert_eq!(c.ids, vec![9_007_199_254_740_991, -9_007_199_254_740_992]);
    }
}
