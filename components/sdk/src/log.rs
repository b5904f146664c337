//! Logging through the host, which tags each line with the component and invocation.

use crate::bindings::switchyard::connector::log::Level;

fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::switchyard::connector::log::log(level, message);
    // Off wasm (the SDK's native unit tests) there is no host, and the generated import is a stub that
    // aborts the process; the line goes to stderr, which the test harness captures.
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{level:?}: {message}");
}

pub fn debug(message: &str) {
    log(Level::Debug, message);
}

pub fn info(message: &str) {
    log(Level::Info, message);
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}
