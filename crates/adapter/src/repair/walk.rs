//! Walking a payload's members, skipping what belongs to the vendor.

use serde_json::Value;

/// An object member met while walking a payload.
pub(crate) struct Member<'a> {
    /// Where it is, e.g. `meterValue[0].sampledValue[1].value`.
    pub(crate) path: &'a str,
    /// Its key.
    pub(crate) key: &'a str,
    /// The key of the member holding its object (for array elements, the array's key).
    pub(crate) parent: Option<&'a str>,
}

/// Calls `visit` for every object member, depth first, skipping `customData`, which is the
/// vendor's and means whatever the vendor says. The recursion is bounded by serde_json's
/// nesting limit (128) on the text the payload was parsed from.
pub(crate) fn walk(value: &mut Value, visit: &mut dyn FnMut(&Member<'_>, &mut Value)) {
    walk_at(value, "", None, visit);
}

fn walk_at(
    value: &mut Value,
    path: &str,
    parent: Option<&str>,
    visit: &mut dyn FnMut(&Member<'_>, &mut Value),
) {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields.iter_mut() {
                if key == "customData" {
                    continue;
                }
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let member = Member {
                    path: &child_path,
                    key,
                    parent,
                };
                visit(&member, child);
                walk_at(child, &child_path, Some(key), visit);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                walk_at(item, &format!("{path}[{index}]"), parent, visit);
            }
        }
        _ => {}
    }
}

/// Calls `visit` for every object held under `key` (an array's elements, or a lone object),
/// with its path, skipping `customData`.
pub(crate) fn objects_under(
    value: &mut Value,
    key: &str,
    visit: &mut dyn FnMut(&str, &mut serde_json::Map<String, Value>),
) {
    objects_at(value, "", key, visit);
}

fn objects_at(
    value: &mut Value,
    path: &str,
    key: &str,
    visit: &mut dyn FnMut(&str, &mut serde_json::Map<String, Value>),
) {
    match value {
        Value::Object(fields) => {
            for (name, child) in fields.iter_mut() {
                if name == "customData" {
                    continue;
                }
                let child_path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                if name == key {
                    match child {
                        Value::Array(items) => {
                            for (index, item) in items.iter_mut().enumerate() {
                                if let Value::Object(object) = item {
                                    visit(&format!("{child_path}[{index}]"), object);
                                }
                            }
                        }
                        Value::Object(object) => visit(&child_path, object),
                        _ => {}
                    }
                }
                objects_at(child, &child_path, key, visit);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                objects_at(item, &format!("{path}[{index}]"), key, visit);
            }
        }
        _ => {}
    }
}
