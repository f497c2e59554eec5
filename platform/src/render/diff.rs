//! Line diffs of documents (a policy, the container definitions) and of long or multi-line values,
//! with unchanged parts elided: how a reviewer sees what changes inside one.

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::{value, Palette};
use crate::model::{JOIN_KEY, REF_KEY, UNKNOWN_KEY};

/// Unchanged lines shown around each change.
const CONTEXT: usize = 3;
/// One-line values longer than this are shown as a line diff when they are structured.
const LONG: usize = 80;

/// A value as the lines a reviewer reads: JSON pretty-printed (strings holding JSON too), values
/// known only after apply and references written out.
pub(super) fn pretty(v: &Value) -> String {
    match v {
        Value::String(text) if text.contains('\n') => text.clone(),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(doc @ (Value::Object(_) | Value::Array(_))) => pretty(&doc),
            _ => v.to_string(),
        },
        other => serde_json::to_string_pretty(&readable(other)).unwrap_or_else(|_| value(other)),
    }
}

/// `v` with the engine's markers replaced by what they mean, for display.
fn readable(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.contains_key(UNKNOWN_KEY) => Value::String("(known after apply)".into()),
        Value::Object(m) if m.len() == 2 && m.contains_key(REF_KEY) => Value::String(format!(
            "${{{}.{}}}",
            m[REF_KEY].as_str().unwrap_or("?"),
            m.get("attr").and_then(Value::as_str).unwrap_or("?")
        )),
        Value::Object(m) if m.len() == 1 && m.contains_key(JOIN_KEY) => {
            let parts = m[JOIN_KEY].as_array().into_iter().flatten().map(|p| match readable(p) {
                Value::String(s) => s,
                other => other.to_string(),
            });
            Value::String(parts.collect())
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), readable(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(readable).collect()),
        other => other.clone(),
    }
}

/// Whether a change from `before` to `after` reads better as a line diff than as `a -> b`: either
/// side spans lines (a multi-line string, or JSON), and the one-line form would be long.
pub(super) fn wants_lines(before: &Value, after: &Value) -> bool {
    let multiline = |v: &Value| pretty(v).contains('\n');
    (multiline(before) || multiline(after)) && value(before).len() + value(after).len() > LONG
}

/// Whether a value shown alone (a create's or a delete's attribute) reads better on many lines.
pub(super) fn wants_block(v: &Value) -> bool {
    pretty(v).contains('\n') && value(v).len() > LONG
}

/// The line diff of `before` and `after`, each line prefixed with `indent` and a sign (`-`, `+`
/// or a space), unchanged runs longer than the context elided with `...`.
pub(super) fn lines(before: Option<&Value>, after: Option<&Value>, indent: &str, palette: Palette) -> String {
    let (old, new) = (before.map(pretty).unwrap_or_default(), after.map(pretty).unwrap_or_default());
    let (old, new) = (with_newline(old), with_newline(new));
    let diff = TextDiff::from_lines(&old, &new);
    let mut out = String::new();
    for (i, group) in diff.grouped_ops(CONTEXT).iter().enumerate() {
        if i > 0 {
            out.push_str(&format!("{indent}{}\n", palette.faint("  ...")));
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let text = change.value().trim_end_matches('\n');
                let line = match change.tag() {
                    ChangeTag::Delete => palette.removed(&format!("- {text}")),
                    ChangeTag::Insert => palette.added(&format!("+ {text}")),
                    ChangeTag::Equal => palette.faint(&format!("  {text}")),
                };
                out.push_str(&format!("{indent}{line}\n"));
            }
        }
    }
    out
}

/// `value` pretty-printed on its own lines, each prefixed with `indent` (a new document, or one
/// that goes away).
pub(super) fn block(v: &Value, indent: &str) -> String {
    pretty(v).lines().map(|l| format!("{indent}{l}\n")).collect()
}

fn with_newline(mut text: String) -> String {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents_diff_by_line_with_the_unchanged_parts_elided() {
        let statement =
            |actions: &[&str]| json!({"effect": "Allow", "actions": actions, "resources": ["arn:aws:s3:::b/cards/*"]});
        let before = json!({"statements": [statement(&["s3:GetObject"]), statement(&["a:1"]), statement(&["a:2"]), statement(&["a:3"])]});
        let after = json!({"statements": [statement(&["s3:GetObject", "s3:PutObject"]), statement(&["a:1"]), statement(&["a:2"]), statement(&["a:3"])]});
        let text = lines(Some(&before), Some(&after), "", Palette::PLAIN);
        assert!(text.contains("-         \"s3:GetObject\"\n"), "{text}");
        assert!(text.contains("+         \"s3:GetObject\",\n+         \"s3:PutObject\"\n"), "{text}");
        assert!(!text.contains("a:3"), "the unchanged end is elided:\n{text}");
        assert!(wants_lines(&before, &after));
        assert!(!wants_lines(&json!(["a"]), &json!(["a", "b"])), "short values stay on one line");
    }

    #[test]
    fn strings_holding_json_are_pretty_printed_and_markers_written_out() {
        assert_eq!(pretty(&json!("{\"Statement\":[]}")), "{\n  \"Statement\": []\n}");
        let v = json!({"a": {"$unknown": "s.x.id"}, "b": {"$ref": "s.y", "attr": "arn"}, "c": {"$join": [{"$ref": "s.z", "attr": "arn"}, "/*"]}});
        assert_eq!(
            pretty(&v),
            "{\n  \"a\": \"(known after apply)\",\n  \"b\": \"${s.y.arn}\",\n  \"c\": \"${s.z.arn}/*\"\n}"
        );
    }

    #[test]
    fn colours_only_when_asked() {
        let text = lines(Some(&json!("a\nb\n")), Some(&json!("a\nc\n")), "", Palette::ANSI);
        assert!(text.contains("\u{1b}["), "{text:?}");
        let plain = lines(Some(&json!("a\nb\n")), Some(&json!("a\nc\n")), "", Palette::PLAIN);
        assert_eq!(plain, "  a\n- b\n+ c\n");
    }
}
