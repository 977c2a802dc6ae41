//! Repairs of what the CSMS sends: the charger's parser, not the spec, decides what works.

use serde_json::{Number, Value};
use zaryad_wire::OcppVersion;

use super::walk::walk;
use super::{Change, Context, Setting};

/// DT03-a: 1.6 `DataTransfer.data` is a string; an object goes as its JSON text.
pub(crate) fn data_as_string(
    context: &Context<'_>,
    _: &Setting,
    payload: &mut Value,
) -> Vec<Change> {
    if context.version != OcppVersion::V16 || context.action != "DataTransfer" {
        return Vec::new();
    }
    let Some(data) = payload.get_mut("data") else {
        return Vec::new();
    };
    if data.is_string() || data.is_null() {
        return Vec::new();
    }
    let text = data.to_string();
    *data = Value::String(text.clone());
    vec![Change::new(
        format!("data: sent as the JSON text {text:?}"),
        None,
    )]
}

/// DT01-b: tscontech reads DataTransfer answers positionally (`messageId\":\"`): JSON packed
/// in `data` must be compact, keep its key order, and have every value a quoted string.
pub(crate) fn compact_data(context: &Context<'_>, _: &Setting, payload: &mut Value) -> Vec<Change> {
    if context.action != "DataTransfer" {
        return Vec::new();
    }
    let Some(data) = payload.get_mut("data") else {
        return Vec::new();
    };
    let text = match &*data {
        Value::String(text) => text.clone(),
        Value::Object(_) | Value::Array(_) => data.to_string(),
        _ => return Vec::new(),
    };
    let Some(compact) = compact_strings(&text) else {
        return Vec::new();
    };
    if data.as_str() == Some(compact.as_str()) {
        return Vec::new();
    }
    let before = data.to_string();
    *data = Value::String(compact.clone());
    vec![Change::new(format!("data: {before} → {compact:?}"), None)]
}

/// Rewrites JSON text without whitespace and with numbers and booleans quoted, keeping the
/// order of keys (a parsed map would sort them). `None` unless it is a JSON object or array.
fn compact_strings(text: &str) -> Option<String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(_) | Value::Array(_)) => {}
        _ => return None,
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                let mut escaped = false;
                for inner in chars.by_ref() {
                    out.push(inner);
                    match (escaped, inner) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => {}
                    }
                }
            }
            c if c.is_whitespace() => {}
            '{' | '}' | '[' | ']' | ':' | ',' => out.push(c),
            c => {
                let mut literal = String::from(c);
                while let Some(&next) = chars.peek() {
                    if matches!(next, ',' | '}' | ']') || next.is_whitespace() {
                        break;
                    }
                    literal.push(next);
                    chars.next();
                }
                if literal == "null" {
                    out.push_str(&literal);
                } else {
                    out.push('"');
                    out.push_str(&literal);
                    out.push('"');
                }
            }
        }
    }
    Some(out)
}

/// Some firmware parses `16.0` as an error where the spec allows a decimal.
pub(crate) fn integer_numbers(_: &Context<'_>, _: &Setting, payload: &mut Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk(payload, &mut |member, value| {
        let Value::Number(number) = value else {
            return;
        };
        let text = number.to_string();
        let Some((whole, fraction)) = text.split_once('.') else {
            return;
        };
        if !fraction.bytes().all(|b| b == b'0') {
            return;
        }
        if let Ok(integer) = whole.parse::<i64>() {
            changes.push(Change::new(
                format!("{}: {text} → {integer}", member.path()),
                None,
            ));
            *value = Value::Number(Number::from(integer));
        }
    });
    changes
}

/// X03-a, §8.1: chargers with 16- or 20-byte tag buffers corrupt longer tags. An optional
/// parent tag that does not fit is left out; a tag the charger must have is shortened.
pub(crate) fn id_tag_length(
    _: &Context<'_>,
    setting: &Setting,
    payload: &mut Value,
) -> Vec<Change> {
    let Setting::MaxLength(max) = setting else {
        return Vec::new();
    };
    let max = *max;
    let mut changes = Vec::new();
    drop_long_parent(payload, max, &mut changes);
    walk(payload, &mut |member, value| {
        if !matches!(member.key, "idTag" | "idToken") {
            return;
        }
        let Value::String(tag) = value else {
            return;
        };
        if let Some((cut, _)) = tag.char_indices().nth(max) {
            let short = tag[..cut].to_owned();
            changes.push(Change::new(
                format!(
                    "{}: {tag:?} → {short:?} (the charger takes {max})",
                    member.path()
                ),
                None,
            ));
            *value = Value::String(short);
        }
    });
    changes
}

fn drop_long_parent(value: &mut Value, max: usize, changes: &mut Vec<Change>) {
    match value {
        Value::Object(fields) => {
            let too_long = |tag: Option<&Value>| {
                tag.and_then(Value::as_str)
                    .is_some_and(|tag| tag.chars().count() > max)
            };
            if too_long(fields.get("parentIdTag")) {
                fields.remove("parentIdTag");
                changes.push(Change::new(
                    format!("parentIdTag: longer than {max}; left out"),
                    None,
                ));
            }
            if too_long(
                fields
                    .get("groupIdToken")
                    .and_then(|group| group.get("idToken")),
            ) {
                fields.remove("groupIdToken");
                changes.push(Change::new(
                    format!("groupIdToken: longer than {max}; left out"),
                    None,
                ));
            }
            fields
                .values_mut()
                .for_each(|child| drop_long_parent(child, max, changes));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| drop_long_parent(item, max, changes)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;

    fn context(version: OcppVersion) -> Context<'static> {
        Context {
            version,
            action: "DataTransfer",
            received_at: Utc::now(),
        }
    }

    #[test]
    fn dt01_b_data_is_compact_with_string_values() {
        let mut answer = json!({"status": "Accepted",
            "data": "{ \"messageId\": \"j1\", \"memberType\": 1, \"unitPrice\": 347.2 }"});
        compact_data(&context(OcppVersion::V16), &Setting::On, &mut answer);
        assert_eq!(
            answer["data"],
            "{\"messageId\":\"j1\",\"memberType\":\"1\",\"unitPrice\":\"347.2\"}"
        );
        let mut again = answer.clone();
        assert!(compact_data(&context(OcppVersion::V16), &Setting::On, &mut again).is_empty());
    }

    #[test]
    fn dt03_a_object_data_is_sent_as_text_in_16() {
        let mut call = json!({"vendorId": "btc", "messageId": "stationMode",
            "data": {"StationMode": "paymentMode"}});
        data_as_string(&context(OcppVersion::V16), &Setting::On, &mut call);
        assert_eq!(call["data"], "{\"StationMode\":\"paymentMode\"}");
        let mut v201 = json!({"vendorId": "btc", "data": {"a": 1}});
        assert!(data_as_string(&context(OcppVersion::V201), &Setting::On, &mut v201).is_empty());
    }

    #[test]
    fn numbers_and_tags_fit_the_charger() {
        let mut profile = json!({"limit": 16.0, "startPeriod": 0, "x": 1.5});
        integer_numbers(&context(OcppVersion::V16), &Setting::On, &mut profile);
        assert_eq!(profile["limit"], 16);
        assert_eq!(profile["x"].as_f64(), Some(1.5));
        let mut answer = json!({"idTagInfo": {"status": "Accepted", "parentIdTag": "GROUP-0123456789ABCDEF"},
            "idTag": "0123456789ABCDEFGHIJ"});
        let changes = id_tag_length(
            &context(OcppVersion::V16),
            &Setting::MaxLength(16),
            &mut answer,
        );
        assert_eq!(changes.len(), 2);
        assert!(answer["idTagInfo"].get("parentIdTag").is_none());
        assert_eq!(answer["idTag"], "0123456789ABCDEF");
    }
}
