//! What a name may be: expression, engine and worker names, as the edge
//! (`JobSpec`, `RegisterWorker`, `RegisterEngine`) and the engines config
//! file receive them. Names become metric labels, log fields and `Status`
//! entries, so they are bounded and printable:
//!
//! - surrounding whitespace is trimmed (`"echo "` is `"echo"`);
//! - at most [`MAX_NAME_CHARS`] characters remain;
//! - no control characters (newlines, tabs, NUL, C1 codes) and no invisible
//!   formatting characters (bidirectional overrides, zero-width ones), which
//!   could forge log lines or names that look alike.
//!
//! Engine names keep their case (`symai:OpenAIEngine` is a name clients
//! build and caches key by), but two engines whose names differ only in
//! case are refused: `ECHO` is never a second, distinct `echo`.
//!
//! Also here: the nesting limit of kwargs JSON ([`MAX_KWARGS_DEPTH`]).

/// Most characters of a name, after trimming.
pub const MAX_NAME_CHARS: usize = 256;
/// Deepest nesting of arrays and objects in one kwarg's value (`JobSpec`
/// and engine-call `kwargs_json`): a list is depth 1. The object that holds
/// the kwargs is not counted, so the JSON may nest one level more; the
/// Python client counts the same way.
pub const MAX_KWARGS_DEPTH: usize = 64;

/// Invisible formatting characters refused in names: zero-width ones,
/// bidirectional marks, embeddings, overrides and isolates, the BOM.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// `name` trimmed, or why it is not a valid name (empty, longer than
/// [`MAX_NAME_CHARS`], or holding a control or invisible character).
pub fn check_name(name: &str) -> Result<String, String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".to_string());
    }
    let chars = trimmed.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(format!(
            "is {chars} characters long, over the limit of {MAX_NAME_CHARS}"
        ));
    }
    if let Some((at, c)) = trimmed
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() || is_invisible_format(*c))
    {
        return Err(format!(
            "holds the control or invisible character U+{:04X} at character {at} \
             (names are printable text of at most {MAX_NAME_CHARS} characters)",
            c as u32
        ));
    }
    Ok(trimmed.to_string())
}

/// Whether two engine names are the same but for case (and not equal).
pub fn differ_only_in_case(a: &str, b: &str) -> bool {
    a != b && a.to_lowercase() == b.to_lowercase()
}

/// The nesting depth of arrays and objects in the JSON `text`, counted
/// without parsing it (strings are skipped), stopping once it passes `limit`.
/// Malformed JSON is left to the parser that follows.
pub fn json_depth_over(text: &str, limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Why a kwargs JSON is refused for its nesting, if it is.
pub fn check_kwargs_depth(text: &str) -> Result<(), String> {
    if json_depth_over(text, MAX_KWARGS_DEPTH + 1) {
        return Err(format!(
            "a kwarg nests arrays and objects deeper than the limit of {MAX_KWARGS_DEPTH} levels"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("  echo \t").as_deref(), Ok("echo"));
        assert_eq!(
            check_name(&"x".repeat(MAX_NAME_CHARS)).map(|n| n.len()),
            Ok(256)
        );
        let err = check_name(&"x".repeat(MAX_NAME_CHARS + 1)).unwrap_err();
        assert!(err.contains("limit of 256"), "{err}");
        assert_eq!(check_name("   ").unwrap_err(), "must not be empty");
    }

    #[test]
    fn control_and_invisible_characters_are_refused() {
        for bad in [
            "ec\nho",
            "echo\r\nINFO forged",
            "a\0b",
            "a\u{202E}b",
            "a\u{200B}b",
        ] {
            let err = check_name(bad).unwrap_err();
            assert!(err.contains("U+"), "{bad:?}: {err}");
        }
        assert!(check_name("mypkg.mod:Summarize").is_ok());
        assert!(check_name("symai:OpenAIEngine:gpt-4o / ünïcode").is_ok());
    }

    #[test]
    fn case_variants_are_told_apart_from_equal_names() {
        assert!(differ_only_in_case("ECHO", "echo"));
        assert!(!differ_only_in_case("echo", "echo"));
        assert!(!differ_only_in_case("echo", "gpt"));
    }

    #[test]
    fn kwargs_depth_counts_brackets_outside_strings() {
        let deep = format!("{}{}", "[".repeat(66), "]".repeat(66));
        assert!(json_depth_over(&deep, 65));
        // A kwarg nested exactly the limit is accepted.
        let at_limit = format!("{{\"a\":{}{}}}", "[".repeat(64), "]".repeat(64));
        assert!(check_kwargs_depth(&at_limit).is_ok());
        let ok = format!("{{\"a\":{}{}}}", "[".repeat(63), "]".repeat(63));
        assert!(!json_depth_over(&ok, 64));
        let quoted = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(100), "{".repeat(100));
        assert!(!json_depth_over(&quoted, 64));
        assert!(check_kwargs_depth(&deep)
            .unwrap_err()
            .contains("limit of 64"));
    }
}
