//! Warnings a request collects on its way through the server, upstream's
//! `k8s.io/apiserver/pkg/warning`: code deep in a request (admission plugins) adds them
//! with [`add`]; the handler, which runs the request inside [`collect`], sends them as
//! `Warning` headers.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;

tokio::task_local! {
    static RECORDER: RefCell<Vec<String>>;
}

/// Runs `f`, returning its output and the warnings added while it ran, each once.
pub async fn collect<F: Future>(f: F) -> (F::Output, Vec<String>) {
    let mut scoped = pin!(RECORDER.scope(RefCell::new(Vec::new()), f));
    let output = scoped.as_mut().await;
    let warnings = scoped
        .as_mut()
        .take_value()
        .map(RefCell::into_inner)
        .unwrap_or_default();
    (output, warnings)
}

/// Adds a warning to the current request; repeated warnings are recorded once, as
/// upstream's recorder does. Outside a request, nothing happens.
pub fn add(message: String) {
    let _ = RECORDER.try_with(|recorder| {
        let mut warnings = recorder.borrow_mut();
        if !warnings.contains(&message) {
            warnings.push(message);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn warnings_added_during_a_request_are_collected_once() {
        let ((), warnings) = collect(async {
            add("a".into());
            add("b".into());
            add("a".into());
        })
        .await;
        assert_eq!(warnings, ["a", "b"]);
        add("outside".into());
    }
}
