//! Escaping and formatting helpers for untrusted text and numbers.

/// Whether a character may appear in the report as it is. Control
/// characters (except tab, newline and carriage return) and the
/// non-characters U+FFFE/U+FFFF are not allowed in XML 1.0 and are
/// meaningless in a table cell, so they are replaced.
fn is_displayable(c: char) -> bool {
    !(c.is_control() && !matches!(c, '\t' | '\n' | '\r') || matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

/// `s` with every character XML forbids (and every other control
/// character but tab, newline and carriage return) replaced by U+FFFD.
pub(crate) fn clean_text(s: &str) -> String {
    s.chars()
        .map(|c| if is_displayable(c) { c } else { '\u{FFFD}' })
        .collect()
}

/// Escapes `s` for HTML text and for double- or single-quoted attribute
/// values: `&`, `<`, `>`, `"` and `'` become character references, and
/// control characters other than tab, newline and carriage return (plus
/// U+FFFE and U+FFFF) become U+FFFD.
///
/// Every string from a [`DemoReport`](crate::DemoReport) goes through this
/// function before it reaches the page; hotkeys, strategy names and failure
/// messages are written by miners and are hostile input.
///
/// ```
/// assert_eq!(
///     medmetric_report::escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
///     "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
/// );
/// ```
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_displayable(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// `s` cut to at most `max` characters, the last one an ellipsis when cut.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A long key shown as its head and tail (`5Grw…utQY`); short keys unchanged.
pub(crate) fn short_key(s: &str) -> String {
    let n = s.chars().count();
    if n <= 16 {
        return s.to_string();
    }
    let head: String = s.chars().take(8).collect();
    let tail: String = s.chars().skip(n - 6).collect();
    format!("{head}…{tail}")
}

/// A share (0..1) as a percentage with two decimals, `—` when not finite.
pub(crate) fn percent(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2}%", v * 100.0)
    } else {
        "—".to_string()
    }
}

/// A float with `digits` decimals, `—` when not finite.
pub(crate) fn decimal(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "—".to_string()
    }
}

/// Rao as TAO in exact integer arithmetic, trailing zeros trimmed (`1.5 τ`).
pub(crate) fn tao(rao: u64) -> String {
    let whole = rao / 1_000_000_000;
    let frac = rao % 1_000_000_000;
    if frac == 0 {
        return format!("{whole} τ");
    }
    let frac = format!("{frac:09}");
    format!("{whole}.{} τ", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(
            escape("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("a&b\"c"), "a&amp;b&quot;c");
        assert_eq!(escape("&amp;"), "&amp;amp;");
        assert_eq!(
            escape("x\u{0}y\u{1b}z\u{7f}\u{85}\u{FFFF}"),
            "x\u{FFFD}y\u{FFFD}z\u{FFFD}\u{FFFD}\u{FFFD}"
        );
        assert_eq!(escape("tab\there\nnew ünï ✓"), "tab\there\nnew ünï ✓");
    }

    #[test]
    fn shortens_by_characters() {
        assert_eq!(shorten("abcdef", 6), "abcdef");
        assert_eq!(shorten("abcdefg", 6), "abcde…");
        assert_eq!(shorten("ééééééé", 3), "éé…");
        assert_eq!(
            short_key("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
            "5GrwvaEF…GKutQY"
        );
        assert_eq!(short_key("short"), "short");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(tao(0), "0 τ");
        assert_eq!(tao(1_500_000_000), "1.5 τ");
        assert_eq!(tao(1), "0.000000001 τ");
        assert_eq!(tao(u64::MAX), "18446744073.709551615 τ");
        assert_eq!(percent(0.1234), "12.34%");
        assert_eq!(percent(f64::NAN), "—");
        assert_eq!(decimal(f64::NEG_INFINITY, 3), "—");
    }
}
