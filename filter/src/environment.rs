//! Where `{"env": "NAME"}` references in a config (API-key pepper, service-auth secrets, the
//! masking hash key) are read while the config compiles: the process environment (WASI environ
//! in the proxy-wasm build), or, inside [`with_vars`], only the variables a host passed in (the
//! JS build: the worker's `env` bindings, since `wasm32-unknown-unknown` has no environment).

use std::cell::RefCell;
use std::collections::BTreeMap;

thread_local! {
    static SCOPED: RefCell<Option<BTreeMap<String, String>>> = const { RefCell::new(None) };
}

/// The value of variable `name`: from the [`with_vars`] scope when one is active, else the
/// process environment. `None` when unset or not UTF-8.
pub fn var(name: &str) -> Option<String> {
    match SCOPED.with(|s| s.borrow().as_ref().map(|vars| vars.get(name).cloned())) {
        Some(scoped) => scoped,
        None => std::env::var(name).ok(),
    }
}

/// Restores the previous scope on drop (also when `f` unwinds).
struct Restore(Option<BTreeMap<String, String>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        SCOPED.with(|s| *s.borrow_mut() = previous);
    }
}

/// Run `f` with `vars` as the only environment [`var`] reads (on this thread).
pub fn with_vars<T>(vars: BTreeMap<String, String>, f: impl FnOnce() -> T) -> T {
    let previous = SCOPED.with(|s| s.borrow_mut().replace(vars));
    let _restore = Restore(previous);
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_vars_replace_the_process_environment_and_are_restored() {
        std::env::set_var("EDGEGUARD_TEST_ENVIRONMENT_SCOPE", "from-process");
        assert_eq!(
            var("EDGEGUARD_TEST_ENVIRONMENT_SCOPE").as_deref(),
            Some("from-process")
        );
        let vars = BTreeMap::from([("ONLY_HERE".to_string(), "v".to_string())]);
        with_vars(vars, || {
            assert_eq!(var("ONLY_HERE").as_deref(), Some("v"));
            assert_eq!(var("EDGEGUARD_TEST_ENVIRONMENT_SCOPE"), None);
            with_vars(BTreeMap::new(), || assert_eq!(var("ONLY_HERE"), None));
            assert_eq!(var("ONLY_HERE").as_deref(), Some("v"));
        });
        assert_eq!(var("ONLY_HERE"), None);
        assert_eq!(
            var("EDGEGUARD_TEST_ENVIRONMENT_SCOPE").as_deref(),
            Some("from-process")
        );
    }
}
