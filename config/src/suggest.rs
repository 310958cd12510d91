//! "Did you mean …?" hints for misspelt keys, group names and values.

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
///
/// Comparison ignores ASCII case and counts a swap of two neighbouring
/// letters as one edit, so `smpt` suggests `smtp` and `Protocol` suggests
/// `protocols`.
pub(crate) fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&word, &c.to_ascii_lowercase()), c))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// `; did you mean "x"?` when a near candidate exists, else nothing.
pub(crate) fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    nearest(word, candidates).map_or_else(String::new, |c| format!("; did you mean \"{c}\"?"))
}

/// `"a", "b", "c"` for an "expected one of" list.
pub(crate) fn quoted_list(items: &[&str]) -> String {
    items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_plausible_typos_only() {
        let keys = ["name", "from", "to", "protocols", "ports"];
        assert_eq!(nearest("protocol", keys), Some("protocols"));
        assert_eq!(nearest("Form", keys), Some("from"));
        assert_eq!(nearest("smpt", ["smtp", "imap", "pop3"]), Some("smtp"));
        assert_eq!(nearest("destination", keys), None);
        assert_eq!(hint("xyz", keys), "");
    }
}
