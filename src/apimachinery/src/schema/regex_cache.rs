//! A per-thread cache of compiled regular expressions (schema patterns and
//! format checks are evaluated for every object written).

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;

thread_local! {
    static CACHE: RefCell<HashMap<String, Result<Regex, String>>> = RefCell::new(HashMap::new());
}

const MAX_ENTRIES: usize = 1024;

/// Compiles `pattern` (RE2-like syntax, as Go's regexp), caching the result.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    CACHE.with(|cache| {
        if let Some(hit) = cache.borrow().get(pattern) {
            return hit.clone();
        }
        let compiled = Regex::new(pattern).map_err(|e| e.to_string());
        let mut cache = cache.borrow_mut();
        if cache.len() >= MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(pattern.to_string(), compiled.clone());
        compiled
    })
}

/// Whether `s` matches `pattern`; an invalid pattern matches nothing.
pub fn matches(pattern: &str, s: &str) -> bool {
    compile(pattern).is_ok_and(|re| re.is_match(s))
}
