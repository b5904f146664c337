//! Typed input parsing that names the offending field, as the contract's invalid-input error.

use crate::Error;
use crate::error::invalid_input;
use serde::de::DeserializeOwned;

/// Parses `text` (the JSON input handed to the component) into `T`.
/// A wrong type names the field's path (`contact.id`); a missing field names the field itself.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = strip_position(&inner.to_string());
        if inner.is_syntax() || inner.is_eof() {
            return invalid_input("", format!("the input is not valid JSON: {message}"));
        }
        let field = match missing_field(&message) {
            Some(name) if path == "." => name.to_string(),
            Some(name) => format!("{path}.{name}"),
            None if path == "." => String::new(),
            None => path,
        };
        invalid_input(field, message)
    })?;
    de.end().map_err(|e| invalid_input("", format!("unexpected text after the JSON input: {e}")))?;
    Ok(parsed)
}

/// serde_json reports "missing field `x`": the field worth naming is `x`, not its parent.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// "… at line 1 column 20" is noise for a user who typed a form, not a file.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Requires that exactly one of the named optional inputs is present.
pub fn exactly_one<'a>(options: &[(&'a str, bool)]) -> Result<&'a str, Error> {
    let given: Vec<&str> = options.iter().filter(|(_, set)| *set).map(|(name, _)| *name).collect();
    let names = options.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    match given.as_slice() {
        [one] => Ok(one),
        [] => Err(invalid_input(options[0].0, format!("give one of: {names}"))),
        many => Err(invalid_input(many[1], format!("give only one of: {names} (got {})", many.join(" and ")))),
    }
}

/// A required text input that must not be blank.
pub fn non_empty<'a>(field: &str, value: &'a str) -> Result<&'a str, Error> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid_input(field, "must not be empty"));
    }
    Ok(trimmed)
}

/// A plausible email address: something, an `@`, a dotted domain, no spaces. Intercom checks the
/// rest; this catches a name or an id typed into an email field before anything is sent.
pub fn email(field: &str, value: &str) -> Result<(), Error> {
    let plausible = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        }
        None => false,
    };
    if !plausible || value.contains(char::is_whitespace) || value.matches('@').count() != 1 {
        return Err(invalid_input(field, format!("`{value}` is not an email address")));
    }
    Ok(())
}

/// A Unix time (seconds) that must lie in the future, such as a snooze's end.
pub fn future_time(field: &str, value: i64) -> Result<i64, Error> {
    let now = crate::now() as i64;
    if value <= now {
        return Err(invalid_input(
            field,
            format!("must be a Unix time (seconds) in the future; {value} is not after now ({now})"),
        ));
    }
    Ok(value)
}

/// A list input with an upper bound Intercom enforces (for example 10 attachment URLs).
pub fn at_most<T>(field: &str, items: &[T], max: usize) -> Result<(), Error> {
    if items.len() > max {
        return Err(invalid_input(field, format!("give at most {max} items (got {})", items.len())));
    }
    Ok(())
}
