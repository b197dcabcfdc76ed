//! Input rules for the API, with the parameter at fault named Stripe-style
//! (`customer[email]`, `metadata[order]`), and a small RFC 4180 CSV reader for batches.

use crate::error::ApiError;
use crate::secrets::{KNOWN_FIELDS, ServerKey, normalize_known};
use doublecheck_store::{Customer, NewVerificationSession, VerificationType, normalize_email};
use serde_json::{Map, Value};

/// Shortest and longest `expires_in`, seconds.
pub const MIN_EXPIRES_IN: i64 = 60;
pub const MAX_EXPIRES_IN: i64 = 90 * 24 * 3600;

fn invalid(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid(param, "parameter_invalid", message)
}

fn string<'a>(v: &'a Value, param: &str, max: usize) -> Result<&'a str, ApiError> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid(param, format!("{param} must be a string.")))?;
    if s.len() > max {
        return Err(invalid(
            param,
            format!("{param} is longer than {max} characters."),
        ));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(invalid(
            param,
            format!("{param} contains control characters."),
        ));
    }
    Ok(s)
}

fn opt_string(
    obj: &Map<String, Value>,
    key: &str,
    param: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let s = string(v, param, max)?.trim();
            Ok((!s.is_empty()).then(|| s.to_string()))
        }
    }
}

fn unknown_keys(
    obj: &Map<String, Value>,
    allowed: &[&str],
    prefix: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        let param = match prefix {
            Some(p) => format!("{p}[{k}]"),
            None => k.clone(),
        };
        return Err(ApiError::invalid(
            param.clone(),
            "parameter_unknown",
            format!("Received unknown parameter: {param}"),
        ));
    }
    Ok(())
}

/// A phone number as `+` and 7–15 digits (spaces, dashes, dots and brackets dropped).
pub fn normalize_phone(p: &str) -> Option<String> {
    let digits: String = p
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let rest = digits.strip_prefix('+')?;
    ((7..=15).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// An http(s) URL of at most 2048 bytes without spaces or control characters.
pub fn check_url(u: &str, param: &str) -> Result<(), ApiError> {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    let ok = u.len() <= 2048
        && rest.is_some_and(|r| {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !host.contains('@')
        })
        && u.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(invalid(
            param,
            format!("{param} must be an http:// or https:// URL."),
        ))
    }
}

/// Metadata: at most 50 keys of at most 40 characters, string values of at most 500.
pub fn metadata(v: Option<&Value>) -> Result<String, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok("{}".into());
    };
    let obj = v
        .as_object()
        .ok_or_else(|| invalid("metadata", "metadata must be an object of strings."))?;
    if obj.len() > 50 {
        return Err(invalid("metadata", "metadata holds at most 50 keys."));
    }
    for (k, val) in obj {
        let param = format!("metadata[{k}]");
        if k.is_empty()
            || k.chars().count() > 40
            || k.chars().any(|c| c.is_control() || c == '[' || c == ']')
        {
            return Err(invalid(
                &param,
                "Metadata keys have 1 to 40 characters, without brackets.",
            ));
        }
        match val {
            Value::String(s) if s.chars().count() <= 500 => {}
            Value::Number(_) | Value::Bool(_) => {}
            _ => {
                return Err(invalid(
                    &param,
                    "Metadata values are strings of at most 500 characters.",
                ));
            }
        }
    }
    Ok(v.to_string())
}

/// The customer object: `email` required.
pub fn customer(v: Option<&Value>) -> Result<Customer, ApiError> {
    let obj = v.and_then(Value::as_object).ok_or_else(|| {
        ApiError::invalid(
            "customer",
            "parameter_missing",
            "Missing required param: customer[email].",
        )
    })?;
    unknown_keys(
        obj,
        &["email", "phone", "name", "reference"],
        Some("customer"),
    )?;
    let email = opt_string(obj, "email", "customer[email]", 254)?.ok_or_else(|| {
        ApiError::invalid(
            "customer[email]",
            "parameter_missing",
            "Missing required param: customer[email].",
        )
    })?;
    let email = normalize_email(&email)
        .map_err(|_| invalid("customer[email]", format!("Invalid email address: {email}")))?;
    let phone = match opt_string(obj, "phone", "customer[phone]", 32)? {
        None => None,
        Some(p) => Some(normalize_phone(&p).ok_or_else(|| {
            invalid(
                "customer[phone]",
                "customer[phone] must be in international form, like +34600000000.",
            )
        })?),
    };
    Ok(Customer {
        email: Some(email),
        phone,
        name: opt_string(obj, "name", "customer[name]", 256)?,
        reference: opt_string(obj, "reference", "customer[reference]", 256)?,
    })
}

/// The known values, each normalized and stored only as a keyed hash with a fresh salt.
pub fn known(v: Option<&Value>, key: &ServerKey) -> Result<Option<String>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let obj = v
        .as_object()
        .ok_or_else(|| invalid("known", "known must be an object."))?;
    unknown_keys(obj, KNOWN_FIELDS, Some("known"))?;
    let mut out = Map::new();
    let salt =
        crate::secrets::hex(&crate::secrets::random_bytes::<16>().map_err(ApiError::internal)?);
    for field in KNOWN_FIELDS {
        let param = format!("known[{field}]");
        let Some(raw) = opt_string(obj, field, &param, 64)? else {
            continue;
        };
        let n = normalize_known(field, &raw).ok_or_else(|| {
            invalid(
                &param,
                match *field {
                    "postcode" => "known[postcode] must be 2 to 10 letters and digits.",
                    "birth_date" => "known[birth_date] must be a date as YYYY-MM-DD.",
                    _ => "known[account_last4] must be 4 digits.",
                },
            )
        })?;
        out.insert(
            (*field).to_string(),
            key.known_hash(&salt, field, &n).into(),
        );
    }
    if out.is_empty() {
        return Ok(None);
    }
    out.insert("v".into(), 1.into());
    out.insert("salt".into(), salt.into());
    Ok(Some(Value::Object(out).to_string()))
}

pub fn kind(v: Option<&Value>) -> Result<VerificationType, ApiError> {
    let Some(v) = v else {
        return Err(ApiError::invalid(
            "type",
            "parameter_missing",
            "Missing required param: type.",
        ));
    };
    v.as_str().and_then(VerificationType::parse).ok_or_else(|| {
        invalid(
            "type",
            "type must be one of address, document, address_and_document.",
        )
    })
}

/// `expires_in` in seconds (default from the configuration) → expiry in unix ms.
pub fn expires_at(v: Option<&Value>, default_secs: u64, now_ms: i64) -> Result<i64, ApiError> {
    let secs = match v.filter(|v| !v.is_null()) {
        None => i64::try_from(default_secs).unwrap_or(MAX_EXPIRES_IN),
        Some(v) => v
            .as_i64()
            .filter(|s| (MIN_EXPIRES_IN..=MAX_EXPIRES_IN).contains(s))
            .ok_or_else(|| {
                invalid(
                    "expires_in",
                    format!("expires_in must be a whole number of seconds from {MIN_EXPIRES_IN} to {MAX_EXPIRES_IN}."),
                )
            })?,
    };
    Ok(now_ms.saturating_add(secs.saturating_mul(1000)))
}

/// The body of `POST /v1/verification_sessions`.
pub struct SessionInput {
    pub session: NewVerificationSession,
    /// Queue a message with a link to the customer now.
    pub send: bool,
}

/// Validates a session body (a JSON object).
pub fn session_body(
    body: &Value,
    key: &ServerKey,
    livemode: bool,
    api_key_id: &str,
    default_ttl_secs: u64,
    now_ms: i64,
) -> Result<SessionInput, ApiError> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::bad_request("parameter_invalid", "The body must be a JSON object.")
    })?;
    unknown_keys(
        obj,
        &[
            "type",
            "customer",
            "known",
            "expires_in",
            "return_url",
            "metadata",
            "send",
        ],
        None,
    )?;
    let kind = kind(obj.get("type"))?;
    let customer = customer(obj.get("customer"))?;
    let return_url = opt_string(obj, "return_url", "return_url", 2048)?;
    if let Some(u) = &return_url {
        check_url(u, "return_url")?;
    }
    let send = match obj.get("send") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("send", "send must be true or false.")),
    };
    Ok(SessionInput {
        session: NewVerificationSession {
            livemode,
            kind,
            customer,
            known_json: known(obj.get("known"), key)?,
            return_url,
            metadata_json: metadata(obj.get("metadata"))?,
            api_key_id: Some(api_key_id.to_string()),
            expires_at_ms: expires_at(obj.get("expires_in"), default_ttl_secs, now_ms)?,
        },
        send,
    })
}

/// Reads CSV (RFC 4180: quoted fields, doubled quotes, CRLF or LF) into rows of fields, at
/// most `max_rows` rows (header included) and fields of at most 4096 bytes.
pub fn parse_csv(text: &str, max_rows: usize) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .chars()
        .peekable();
    let mut quoted = false;
    let mut line = 1usize;
    let mut any = false;
    while let Some(c) = chars.next() {
        if field.len() > 4096 {
            return Err(format!("line {line}: a field is longer than 4096 bytes"));
        }
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                any = true;
            }
            ',' => {
                row.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                line += 1;
                if any || !field.is_empty() {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                    if rows.len() > max_rows {
                        return Err(format!("more than {} rows", max_rows - 1));
                    }
                }
                any = false;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(format!("line {line}: a quoted field is not closed"));
    }
    if any || !field.is_empty() {
        row.push(field);
        rows.push(row);
    }
    if rows.len() > max_rows {
        return Err(format!("more than {} rows", max_rows - 1));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_reads_quotes_and_line_ends() {
        let rows = parse_csv(
            "email,name\r\na@x.com,\"Ruiz, Ana\"\nb@x.com,\"say \"\"hi\"\"\"\n\n",
            10,
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], vec!["a@x.com", "Ruiz, Ana"]);
        assert_eq!(rows[2][1], "say \"hi\"");
        assert!(parse_csv("a\n\"open", 10).is_err());
        assert!(parse_csv("a\nb\nc\n", 2).is_err());
        assert_eq!(parse_csv("\u{feff}a,b", 10).unwrap(), vec![vec!["a", "b"]]);
    }

    #[test]
    fn phones_and_urls() {
        assert_eq!(
            normalize_phone("+34 600-00 00 00").as_deref(),
            Some("+34600000000")
        );
        assert!(normalize_phone("600000000").is_none());
        assert!(check_url("https://example.com/x?y", "u").is_ok());
        assert!(check_url("javascript:alert(1)", "u").is_err());
        assert!(check_url("https://user@evil/", "u").is_err());
    }
}
