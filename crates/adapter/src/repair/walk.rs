//! Walking a payload's members, skipping what belongs to the vendor.

use std::fmt;

use serde_json::Value;

/// An object member met while walking a payload.
pub(crate) struct Member<'a> {
    /// Where the object holding it is, e.g. `meterValue[0].sampledValue[1]` (empty at the top).
    prefix: &'a str,
    /// Its key.
    pub(crate) key: &'a str,
    /// The key of the member holding its object (for array elements, the array's key).
    pub(crate) parent: Option<&'a str>,
}

impl Member<'_> {
    /// Where it is, e.g. `meterValue[0].sampledValue[1].value`.
    ///
    /// Spelled out only when a repair describes a change: most members are only looked at.
    pub(crate) fn path(&self) -> MemberPath<'_> {
        MemberPath {
            prefix: self.prefix,
            key: self.key,
        }
    }
}

/// A member's path, written when displayed.
pub(crate) struct MemberPath<'a> {
    prefix: &'a str,
    key: &'a str,
}

impl fmt::Display for MemberPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            f.write_str(self.key)
        } else {
            write!(f, "{}.{}", self.prefix, self.key)
        }
    }
}

/// Calls `visit` for every object member, depth first, skipping `customData`, which is the
/// vendor's and means whatever the vendor says. The recursion is bounded by serde_json's
/// nesting limit (128) on the text the payload was parsed from.
///
/// Every inbound CALL is walked once per enabled repair, so the paths are built in one buffer
/// that grows and shrinks with the walk, and only down to the objects and arrays: a scalar
/// member's path is its holder's and its key, joined when a change is described.
pub(crate) fn walk(value: &mut Value, visit: &mut dyn FnMut(&Member<'_>, &mut Value)) {
    with_path_buffer(|path| walk_at(value, path, None, visit));
}

thread_local! {
    /// The path buffer of the walks on this thread: a payload is walked several times per
    /// frame, and each walk took a buffer of its own from the allocator.
    static PATH: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

/// Runs `walk` with this thread's path buffer, empty. A walk started inside another (a repair
/// that walks from its visitor) finds the buffer taken and grows one of its own.
fn with_path_buffer<R>(walk: impl FnOnce(&mut String) -> R) -> R {
    let mut path = PATH.take();
    path.clear();
    let result = walk(&mut path);
    PATH.set(path);
    result
}

/// True for the values that can hold members.
fn is_container(value: &Value) -> bool {
    matches!(value, Value::Object(_) | Value::Array(_))
}

fn walk_at(
    value: &mut Value,
    path: &mut String,
    parent: Option<&str>,
    visit: &mut dyn FnMut(&Member<'_>, &mut Value),
) {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields.iter_mut() {
                if key == "customData" {
                    continue;
                }
                visit(
                    &Member {
                        prefix: path,
                        key,
                        parent,
                    },
                    child,
                );
                if is_container(child) {
                    let at = path.len();
                    push_key(path, key);
                    walk_at(child, path, Some(key), visit);
                    path.truncate(at);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                if is_container(item) {
                    let at = path.len();
                    push_index(path, index);
                    walk_at(item, path, parent, visit);
                    path.truncate(at);
                }
            }
        }
        _ => {}
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn push_index(path: &mut String, index: usize) {
    // By hand: `write!` goes through the formatting machinery for every array element of
    // every walk, and nearly every index is a single digit.
    path.push('[');
    if index < 10 {
        path.push(char::from(b'0' + index as u8));
    } else {
        path.push_str(&index.to_string());
    }
    path.push(']');
}

/// Runs the member repair `repair` over every member of `payload` on its own (what
/// [`super::run`] does for a run of such repairs in one walk) and returns its changes.
#[cfg(test)]
pub(crate) fn each_member(
    repair: super::MemberFn,
    context: &super::Context<'_>,
    setting: &super::Setting,
    payload: &mut Value,
) -> Vec<super::Change> {
    let mut changes = Vec::new();
    walk(payload, &mut |member, value| {
        repair(context, setting, member, value, &mut changes);
    });
    changes
}

/// Runs the sampled-value repair `repair` over every sampled value of `payload` on its own
/// (what [`super::run`] does for a run of such repairs in one walk) and returns its changes.
#[cfg(test)]
pub(crate) fn each_sampled(
    repair: super::SampledFn,
    context: &super::Context<'_>,
    setting: &super::Setting,
    payload: &mut Value,
) -> Vec<super::Change> {
    let mut changes = Vec::new();
    objects_under(payload, "sampledValue", &mut |path, sampled| {
        repair(context, setting, path, sampled, &mut changes);
    });
    changes
}

/// Calls `visit` for every object held under `key` (an array's elements, or a lone object),
/// with its path, skipping `customData`.
pub(crate) fn objects_under(
    value: &mut Value,
    key: &str,
    visit: &mut dyn FnMut(&str, &mut serde_json::Map<String, Value>),
) {
    with_path_buffer(|path| objects_at(value, path, key, visit));
}

fn objects_at(
    value: &mut Value,
    path: &mut String,
    key: &str,
    visit: &mut dyn FnMut(&str, &mut serde_json::Map<String, Value>),
) {
    match value {
        Value::Object(fields) => {
            for (name, child) in fields.iter_mut() {
                if name == "customData" || !is_container(child) {
                    // A scalar holds no objects, whatever its key.
                    continue;
                }
                let at = path.len();
                push_key(path, name);
                if name == key {
                    match child {
                        Value::Array(items) => {
                            for (index, item) in items.iter_mut().enumerate() {
                                if let Value::Object(object) = item {
                                    let element = path.len();
                                    push_index(path, index);
                                    visit(path, object);
                                    path.truncate(element);
                                }
                            }
                        }
                        Value::Object(object) => visit(path, object),
                        _ => {}
                    }
                }
                objects_at(child, path, key, visit);
                path.truncate(at);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                if is_container(item) {
                    let at = path.len();
                    push_index(path, index);
                    objects_at(item, path, key, visit);
                    path.truncate(at);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn walks_in_walks_and_walks_after_walks_start_from_the_top() {
        let mut payload = json!({"a": {"b": 1}, "c": [{"d": 2}]});
        let mut outer = Vec::new();
        let mut inner = Vec::new();
        walk(&mut payload, &mut |member, value| {
            outer.push(member.path().to_string());
            if member.key == "a" {
                // A walk from the visitor: the thread's buffer is the outer walk's just now.
                walk(&mut value.clone(), &mut |member, _| {
                    inner.push(member.path().to_string());
                });
            }
        });
        assert_eq!(outer, ["a", "a.b", "c", "c[0].d"]);
        assert_eq!(inner, ["b"]);
        // Both buffers went back empty: the next walk's paths start from the top.
        let mut again = Vec::new();
        objects_under(&mut payload, "c", &mut |path, _| {
            again.push(path.to_owned())
        });
        assert_eq!(again, ["c[0]"]);
    }

    #[test]
    fn members_and_objects_are_met_with_their_paths() {
        let mut payload = json!({
            "connectorId": 1,
            "meterValue": [
                {"timestamp": "t", "sampledValue": [{"value": "1"}, {"value": "2", "customData": {"x": 1}}]},
                {"sampledValue": {"value": "3"}}
            ]
        });
        let mut members = Vec::new();
        walk(&mut payload, &mut |member, _| {
            members.push((member.path().to_string(), member.parent.map(str::to_owned)));
        });
        let paths: Vec<&str> = members.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "connectorId",
                "meterValue",
                "meterValue[0].sampledValue",
                "meterValue[0].sampledValue[0].value",
                "meterValue[0].sampledValue[1].value",
                "meterValue[0].timestamp",
                "meterValue[1].sampledValue",
                "meterValue[1].sampledValue.value",
            ]
        );
        assert_eq!(members[3].1.as_deref(), Some("sampledValue"));
        assert_eq!(members[5].1.as_deref(), Some("meterValue"));

        let mut objects = Vec::new();
        objects_under(&mut payload, "sampledValue", &mut |path, object| {
            objects.push((path.to_owned(), object["value"].clone()));
        });
        assert_eq!(
            objects,
            [
                ("meterValue[0].sampledValue[0]".to_owned(), json!("1")),
                ("meterValue[0].sampledValue[1]".to_owned(), json!("2")),
                ("meterValue[1].sampledValue".to_owned(), json!("3")),
            ]
        );
    }

    #[test]
    fn indexes_of_two_digits_and_more_are_spelled_whole() {
        let mut payload = json!({"v": (0..120).map(|n| json!({"n": n})).collect::<Vec<_>>()});
        let mut paths = Vec::new();
        walk(&mut payload, &mut |member, _| {
            paths.push(member.path().to_string())
        });
        assert_eq!(paths[1], "v[0].n");
        assert_eq!(paths[10], "v[9].n");
        assert_eq!(paths[11], "v[10].n");
        assert_eq!(paths[120], "v[119].n");
    }
}
