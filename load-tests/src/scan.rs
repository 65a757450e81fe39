//! Reading frames without parsing them: what the harness needs from each frame (its type, a
//! number, a `ref`, a stamp) is found by keys whose searchers are built once, so a reader costs
//! little per frame. At 200 editors the harness reads over a million frames a second on the
//! cores the server and the database also use; building a searcher per key per frame was a
//! third of its CPU.

use memchr::memmem::Finder;

/// A key searched for in frames, e.g. `"number":`.
pub struct Key {
    finder: Finder<'static>,
}

impl Key {
    /// A key whose searcher is built now, once.
    pub fn new(key: &'static str) -> Self {
        Self { finder: Finder::new(key) }
    }

    /// Whether `text` holds the key.
    pub fn is_in(&self, text: &str) -> bool {
        self.finder.find(text.as_bytes()).is_some()
    }

    /// The text after the key's first occurrence.
    pub fn after<'a>(&self, text: &'a str) -> Option<&'a str> {
        let at = self.finder.find(text.as_bytes())? + self.finder.needle().len();
        // A key ends with an ASCII character, so `at` is a character boundary.
        text.get(at..)
    }

    /// The unsigned number right after the key's first occurrence.
    pub fn number_after(&self, text: &str) -> Option<u64> {
        leading_number(self.after(text)?)
    }
}

/// The unsigned number `text` starts with.
pub fn leading_number(text: &str) -> Option<u64> {
    let end = text.bytes().position(|byte| !byte.is_ascii_digit()).unwrap_or(text.len());
    text[..end].parse().ok()
}

/// Declares keys as statics whose searchers are built on first use.
#[macro_export]
macro_rules! keys {
    ($($(#[$doc:meta])* $name:ident = $key:expr;)*) => {
        $($(#[$doc])* static $name: std::sync::LazyLock<$crate::scan::Key> =
            std::sync::LazyLock::new(|| $crate::scan::Key::new($key));)*
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_finds_what_follows_its_first_occurrence() {
        let number = Key::new("\"number\":");
        let text = r#"{"type":"ack","revision":{"number":42,"x":{"number":7}}}"#;
        assert_eq!(number.number_after(text), Some(42));
        assert_eq!(number.after(r#"{"number":"#), Some(""));
        assert_eq!(number.number_after(r#"{"number":"#), None);
        assert_eq!(number.number_after(r#"{"other":1}"#), None);
        assert!(number.is_in(text));
        assert!(!Key::new("\"ref\":").is_in(text));
    }

    #[test]
    fn a_leading_number_stops_at_the_first_non_digit() {
        assert_eq!(leading_number("1234@5"), Some(1234));
        assert_eq!(leading_number("x1"), None);
        assert_eq!(leading_number(""), None);
        assert_eq!(leading_number("99999999999999999999999"), None);
    }
}
