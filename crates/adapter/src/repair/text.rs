//! Byte-level repairs of frames that are not valid JSON, for profiles that know the defect.

use super::{JSON_STRAY_COMMA, JSON_TRUNCATED, Repair};
use crate::profile::Profile;

/// Repairs the text of an inbound frame that is not valid JSON with the text repairs `profile`
/// turns on. `Some` only when the result is valid JSON; the original stays in the frame log.
pub fn repair_text(profile: &Profile, text: &str) -> Option<(String, Vec<Repair>)> {
    if serde_json::from_str::<serde_json::Value>(text).is_ok() {
        return None;
    }
    let mut repaired = text.to_owned();
    let mut repairs = Vec::new();
    if profile.setting(JSON_STRAY_COMMA).is_some() {
        let (fixed, removed) = strip_stray_commas(&repaired);
        if removed > 0 {
            repaired = fixed;
            repairs.push(Repair {
                name: JSON_STRAY_COMMA.to_owned(),
                detail: format!("{removed} stray comma(s) removed"),
                touches: None,
            });
        }
    }
    if profile.setting(JSON_TRUNCATED).is_some()
        && let Some(closers) = missing_closers(&repaired)
        && !closers.is_empty()
    {
        repaired.push_str(&closers);
        repairs.push(Repair {
            name: JSON_TRUNCATED.to_owned(),
            detail: format!("closed with {closers:?}"),
            touches: None,
        });
    }
    let valid = serde_json::from_str::<serde_json::Value>(&repaired).is_ok();
    (valid && !repairs.is_empty()).then_some((repaired, repairs))
}

/// Removes commas right after `[` or another comma, and right before `]` (R01-b: ZJ Beny's
/// `"sampledValue":[,{…}]`), outside string literals.
fn strip_stray_commas(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut removed = 0;
    let chars: Vec<char> = text.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let before = out.trim_end().chars().last();
            let after = chars[index + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(before, Some('[' | ',')) || matches!(after, Some(']')) {
                removed += 1;
                continue;
            }
        }
        out.push(c);
    }
    (out, removed)
}

/// The brackets that close a frame cut off after a complete value (R01-a: Grizzl-E's
/// `[3,"…",{"configurationKey":[]`); `None` when it was cut inside a string.
fn missing_closers(text: &str) -> Option<String> {
    let mut stack = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' => stack.push(']'),
            '{' => stack.push('}'),
            ']' | '}' if stack.pop() != Some(c) => return None,
            _ => {}
        }
    }
    if in_string {
        return None;
    }
    Some(stack.into_iter().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile::from_toml(
            "beny",
            "[repairs]\njson-stray-comma = true\njson-truncated = true\n",
        )
        .unwrap()
    }

    #[test]
    fn r01_a_truncated_answer_is_closed() {
        let text = r#"[3,"189ce671-e12c-4b3d-b2bf-4112ee759f26",{"configurationKey":[]"#;
        let (fixed, repairs) = repair_text(&profile(), text).unwrap();
        assert_eq!(fixed, format!("{text}}}]"));
        assert_eq!(repairs[0].name, JSON_TRUNCATED);
        assert!(repair_text(Profile::generic(), text).is_none());
    }

    #[test]
    fn r01_b_leading_comma_is_removed() {
        let text = r#"[2,"1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2024-01-01T00:00:00Z","sampledValue":[,{"value":"1,5"}]}]}]"#;
        let (fixed, repairs) = repair_text(&profile(), text).unwrap();
        assert!(
            fixed.contains(r#""sampledValue":[{"value":"1,5"}]"#),
            "{fixed}"
        );
        assert_eq!(repairs[0].name, JSON_STRAY_COMMA);
        assert!(repair_text(&profile(), r#"[2,"1","Heartbeat",{}]"#).is_none());
        assert!(repair_text(&profile(), r#"[2,"1","Heartbeat",{"a":"unterminated"#).is_none());
    }
}
