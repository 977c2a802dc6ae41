//! Id tags: the bytes around them and the vendor's way of writing them.

use serde_json::Value;

use super::settings::IdTagRules;
use super::walk::Member;
use super::{Change, Context, SessionFact, Setting};

/// The members that hold an id tag (1.6 `idTag`, 2.0.1 `idToken.idToken`).
pub(crate) const ID_TAG_KEYS: &[&str] = &["idTag", "idToken"];

/// Rewrites the member with `clean` when it is an id tag, recording the change.
fn rewrite(
    member: &Member<'_>,
    value: &mut Value,
    clean: &dyn Fn(&str) -> String,
    changes: &mut Vec<Change>,
) {
    if !ID_TAG_KEYS.contains(&member.key) {
        return;
    }
    let Value::String(tag) = value else {
        return;
    };
    let cleaned = clean(tag);
    if cleaned != *tag {
        changes.push(Change::new(
            format!("{}: {tag:?} → {cleaned:?}", member.path()),
            Some(SessionFact::IdToken),
        ));
        *value = Value::String(cleaned);
    }
}

/// X03-a: Ocular's 20-character buffer overflows into two control bytes (0x10 0x0E); no real
/// tag holds a control character, so dropping them cannot make one tag another.
pub(crate) fn control_characters(
    _: &Context<'_>,
    _: &Setting,
    member: &Member<'_>,
    value: &mut Value,
    changes: &mut Vec<Change>,
) {
    let strip = |tag: &str| {
        tag.chars()
            .filter(|c| !c.is_control())
            .collect::<String>()
            .trim()
            .to_owned()
    };
    rewrite(member, value, &strip, changes);
}

/// The profile's rules: Dongah's `C` type prefix, payment terminals' `;`, hex case, length.
pub(crate) fn clean(
    _: &Context<'_>,
    setting: &Setting,
    member: &Member<'_>,
    value: &mut Value,
    changes: &mut Vec<Change>,
) {
    if let Setting::IdTag(rules) = setting {
        rewrite(member, value, &|tag| apply(rules, tag), changes);
    }
}

fn apply(rules: &IdTagRules, tag: &str) -> String {
    let mut tag = tag.trim();
    if let Some(separator) = &rules.after_separator
        && let Some((_, after)) = tag.rsplit_once(separator.as_str())
        && !after.is_empty()
    {
        tag = after;
    }
    for prefix in &rules.strip_prefix {
        if let Some(rest) = tag.strip_prefix(prefix.as_str())
            && !rest.is_empty()
        {
            tag = rest;
            break;
        }
    }
    let mut tag = if rules.upper_case {
        tag.to_uppercase()
    } else {
        tag.to_owned()
    };
    if let Some(max) = rules.max_length
        && let Some((cut, _)) = tag.char_indices().nth(max)
    {
        tag.truncate(cut);
    }
    tag
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;
    use zaryad_wire::OcppVersion;

    use super::*;
    use crate::repair::walk::each_member;

    fn context() -> Context<'static> {
        Context {
            version: OcppVersion::V16,
            action: "StopTransaction",
            received_at: Utc::now(),
        }
    }

    #[test]
    fn control_bytes_are_dropped() {
        let mut stop = json!({"idTag": "BA86I250X5G6MOD5DLKD\u{10}\u{e}", "transactionId": 1});
        let changes = each_member(control_characters, &context(), &Setting::On, &mut stop);
        assert_eq!(stop["idTag"], "BA86I250X5G6MOD5DLKD");
        assert_eq!(changes[0].touches, Some(SessionFact::IdToken));
        let mut clean_tag = json!({"idTag": "04656B82EB2CDD"});
        assert!(
            each_member(control_characters, &context(), &Setting::On, &mut clean_tag).is_empty()
        );
    }

    #[test]
    fn profile_rules_apply_in_order() {
        let rules = IdTagRules {
            strip_prefix: vec!["C".into()],
            after_separator: Some(";".into()),
            upper_case: true,
            max_length: Some(16),
        };
        assert_eq!(apply(&rules, "C1010010012345678"), "1010010012345678");
        assert_eq!(apply(&rules, "terminal;C04a1b2c3"), "04A1B2C3");
        assert_eq!(apply(&rules, "0004100111021203999"), "0004100111021203");
        assert_eq!(apply(&rules, "C"), "C");
        let mut auth = json!({"idToken": {"idToken": "C1364747ee704", "type": "MacAddress"}});
        each_member(clean, &context(), &Setting::IdTag(rules), &mut auth);
        assert_eq!(auth["idToken"]["idToken"], "1364747EE704");
    }
}
