//! Why an invocation failed, and the one policy for every failure: its kind (as run history records it
//! and `retry.on` names it), whether asking again can help, how long to wait first, and the exit code
//! the CLI ends with. The CLI, the scheduler and the workflow executor all ask here, so a failure means
//! the same thing wherever it surfaces.

use super::bindings::ComponentError;
use super::state::MemoryLimitExceeded;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The component ran and returned one of the contract's typed errors.
    #[error("{}", describe_component_error(.0))]
    Component(ComponentError),
    #[error("the component did not finish within its deadline of {0:?} and was stopped")]
    DeadlineExceeded(Duration),
    #[error("{0}")]
    MemoryLimit(MemoryLimitExceeded),
    #[error("the component's output is {size} bytes, over the limit of {limit} bytes; it was discarded")]
    OutputTooLarge { size: usize, limit: usize },
    #[error("the component crashed (trapped): {0}")]
    Trapped(String),
    #[error("{0:#}")]
    Host(anyhow::Error),
    /// The component reported `unauthorized` and the host itself saw the connection's own origin
    /// answer 401: the connection's credentials were refused. (A component saying so without that 401,
    /// e.g. for a third-party host, stays a plain component error and cannot disable the connection.)
    #[error("{}", describe_component_error(.0))]
    CredentialsRefused(ComponentError),
    /// The invocation failed while a write request it sent had not been answered: the request may or
    /// may not have taken effect. Whether it may be sent again depends on the action's effect.
    #[error("{0}; a write request had been sent and its answer never came, so whether it took effect is unknown")]
    OutcomeUnknown(Box<InvocationError>),
}

impl InvocationError {
    /// The typed error, for callers that branch on it.
    pub fn component_error(&self) -> Option<&ComponentError> {
        match self {
            InvocationError::Component(e) | InvocationError::CredentialsRefused(e) => Some(e),
            InvocationError::OutcomeUnknown(inner) => inner.component_error(),
            _ => None,
        }
    }

    /// The failure's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            InvocationError::Component(e) => match e {
                ComponentError::InvalidInput(_) => ErrorKind::InvalidInput,
                ComponentError::NotFound(_) => ErrorKind::NotFound,
                ComponentError::Unauthorized(_) => ErrorKind::Unauthorized,
                ComponentError::Forbidden(_) => ErrorKind::Forbidden,
                ComponentError::RateLimited(_) => ErrorKind::RateLimited,
                ComponentError::Conflict(_) => ErrorKind::Conflict,
                ComponentError::Upstream(_) => ErrorKind::Upstream,
                ComponentError::Internal(_) => ErrorKind::Component,
            },
            InvocationError::DeadlineExceeded(_) => ErrorKind::Timeout,
            InvocationError::MemoryLimit(_) | InvocationError::OutputTooLarge { .. } | InvocationError::Trapped(_) => {
                ErrorKind::Component
            }
            InvocationError::Host(_) => ErrorKind::Host,
            InvocationError::CredentialsRefused(_) => ErrorKind::Unauthorized,
            InvocationError::OutcomeUnknown(_) => ErrorKind::OutcomeUnknown,
        }
    }

    /// Whether the same call may succeed if made again: rate limits, server-side errors and transport
    /// failures, timeouts and crashes. A 4xx answer will not change by asking again, and a write whose
    /// outcome is unknown is never repeated by the host itself (an operator decides).
    pub fn is_transient(&self) -> bool {
        match self {
            InvocationError::Component(ComponentError::RateLimited(_)) => true,
            InvocationError::Component(ComponentError::Upstream(u)) => {
                u.status >= 500 || u.status == 0 || u.status == 408
            }
            InvocationError::Component(_) => false,
            InvocationError::DeadlineExceeded(_) | InvocationError::Trapped(_) => true,
            InvocationError::MemoryLimit(_)
            | InvocationError::OutputTooLarge { .. }
            | InvocationError::Host(_)
            | InvocationError::CredentialsRefused(_)
            | InvocationError::OutcomeUnknown(_) => false,
        }
    }

    /// How long the service asked us to wait before calling again (a rate limit's reset), capped at
    /// `max`: a component cannot park work for longer than the host's own longest backoff.
    pub fn retry_after(&self, max: Duration) -> Option<Duration> {
        match self.component_error() {
            Some(ComponentError::RateLimited(limit)) => {
                limit.retry_after_seconds.map(|s| Duration::from_secs(u64::from(s)).min(max))
            }
            _ => None,
        }
    }

    /// The detail of a refusal of the connection's credentials that the host itself saw (a 401 from the
    /// connection's own origin), for marking the connection as needing re-authorization.
    pub fn credentials_refused(&self) -> Option<&str> {
        match self {
            InvocationError::CredentialsRefused(ComponentError::Unauthorized(detail)) => Some(detail),
            InvocationError::CredentialsRefused(_) => Some("the service refused the credentials"),
            InvocationError::OutcomeUnknown(inner) => inner.credentials_refused(),
            _ => None,
        }
    }

    /// For an action that may be repeated (a read or an idempotent write), an unknown outcome is just
    /// the failure underneath it; for a write it stays unknown.
    pub fn for_repeatable_action(self) -> InvocationError {
        match self {
            InvocationError::OutcomeUnknown(inner) => *inner,
            other => other,
        }
    }

    /// The CLI exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }
}

pub fn describe_component_error(error: &ComponentError) -> String {
    match error {
        ComponentError::InvalidInput(f) if f.field.is_empty() => format!("invalid input: {}", f.message),
        ComponentError::InvalidInput(f) => format!("invalid input: field `{}`: {}", f.field, f.message),
        ComponentError::NotFound(m) => format!("not found: {m}"),
        ComponentError::Unauthorized(m) => format!("unauthorized: {m}"),
        ComponentError::Forbidden(m) => format!("forbidden: {m}"),
        ComponentError::RateLimited(r) => match r.retry_after_seconds {
            Some(s) => format!("rate limited: {} (retry in {s} s)", r.message),
            None => format!("rate limited: {}", r.message),
        },
        ComponentError::Conflict(c) => match &c.existing_id {
            Some(id) => format!("conflict: {} (existing id {id})", c.message),
            None => format!("conflict: {}", c.message),
        },
        ComponentError::Upstream(u) => format!("upstream error: HTTP {} {}: {}", u.status, u.code, u.message),
        ComponentError::Internal(m) => format!("internal error in the component: {m}"),
    }
}

/// A failure's kind, as recorded in run history and named in a workflow's `retry.on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidInput,
    NotFound,
    Unauthorized,
    Forbidden,
    RateLimited,
    Conflict,
    Upstream,
    /// The deadline ran out.
    Timeout,
    /// The component crashed, ran out of memory, returned too much or said `internal`.
    Component,
    /// Mapping the input failed (an expression error).
    Expression,
    /// The host could not run the step (e.g. unknown component or connection).
    Host,
    /// A write was sent and never answered; only an operator may send it again (never in `retry.on`).
    #[serde(skip)]
    OutcomeUnknown,
}

/// Exit codes, so scripts can tell what to do next.
pub mod exit {
    /// Something is wrong with what was asked: bad input, usage, unknown component or bundle.
    pub const INVALID_INPUT: i32 = 2;
    /// The object the input points at does not exist.
    pub const NOT_FOUND: i32 = 3;
    /// The credentials were refused or lack permission.
    pub const AUTH: i32 = 4;
    /// The upstream service failed, rate limited, or reported a conflict; or a write's outcome is unknown.
    pub const UPSTREAM: i32 = 5;
    /// The component misbehaved: trapped, ran out of time or memory, or returned too much.
    pub const COMPONENT: i32 = 6;
    /// Anything else (a bug or a broken installation).
    pub const INTERNAL: i32 = 1;
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::RateLimited,
        ErrorKind::Conflict,
        ErrorKind::Upstream,
        ErrorKind::Timeout,
        ErrorKind::Component,
        ErrorKind::Expression,
        ErrorKind::Host,
        ErrorKind::OutcomeUnknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Component => "component",
            ErrorKind::Expression => "expression",
            ErrorKind::Host => "host",
            ErrorKind::OutcomeUnknown => "outcome_unknown",
        }
    }

    /// The kind a stored `error_kind` names (see [`ErrorKind::as_str`]).
    pub fn parse(text: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The CLI exit code for a failure of this kind.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::InvalidInput | ErrorKind::Expression => exit::INVALID_INPUT,
            ErrorKind::NotFound => exit::NOT_FOUND,
            ErrorKind::Unauthorized | ErrorKind::Forbidden => exit::AUTH,
            ErrorKind::RateLimited | ErrorKind::Conflict | ErrorKind::Upstream | ErrorKind::OutcomeUnknown => {
                exit::UPSTREAM
            }
            ErrorKind::Timeout | ErrorKind::Component => exit::COMPONENT,
            ErrorKind::Host => exit::INTERNAL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::types::{RateLimit, UpstreamError};

    fn upstream(status: u16) -> InvocationError {
        InvocationError::Component(ComponentError::Upstream(UpstreamError {
            status,
            code: "x".into(),
            message: "m".into(),
        }))
    }

    #[test]
    fn every_kind_round_trips_through_its_stored_name() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::parse("no_such_kind"), None);
    }

    #[test]
    fn transient_failures_are_server_side_transport_rate_limit_and_timeouts() {
        assert!(upstream(500).is_transient());
        assert!(upstream(503).is_transient());
        assert!(upstream(0).is_transient(), "a transport failure");
        assert!(upstream(408).is_transient());
        assert!(!upstream(400).is_transient());
        assert!(!upstream(404).is_transient());
        assert!(InvocationError::DeadlineExceeded(Duration::from_secs(1)).is_transient());
        assert!(!InvocationError::Host(anyhow::anyhow!("no such component")).is_transient());
        let unknown = InvocationError::OutcomeUnknown(Box::new(upstream(0)));
        assert!(!unknown.is_transient(), "an unknown write is never repeated by itself");
        assert_eq!(unknown.kind(), ErrorKind::OutcomeUnknown);
        let repeatable = unknown.for_repeatable_action();
        assert!(repeatable.is_transient(), "for a read it is the transport failure underneath");
        assert_eq!(repeatable.kind(), ErrorKind::Upstream);
    }

    #[test]
    fn a_rate_limit_wait_is_capped() {
        let limited = InvocationError::Component(ComponentError::RateLimited(RateLimit {
            message: "slow down".into(),
            retry_after_seconds: Some(u32::MAX),
        }));
        assert_eq!(limited.retry_after(Duration::from_secs(3600)), Some(Duration::from_secs(3600)));
        assert_eq!(limited.kind(), ErrorKind::RateLimited);
        assert_eq!(upstream(500).retry_after(Duration::from_secs(10)), None);
    }

    #[test]
    fn exit_codes_follow_the_kind() {
        assert_eq!(ErrorKind::InvalidInput.exit_code(), exit::INVALID_INPUT);
        assert_eq!(ErrorKind::Expression.exit_code(), exit::INVALID_INPUT);
        assert_eq!(ErrorKind::NotFound.exit_code(), exit::NOT_FOUND);
        assert_eq!(ErrorKind::Forbidden.exit_code(), exit::AUTH);
        assert_eq!(ErrorKind::Conflict.exit_code(), exit::UPSTREAM);
        assert_eq!(ErrorKind::OutcomeUnknown.exit_code(), exit::UPSTREAM);
        assert_eq!(ErrorKind::Timeout.exit_code(), exit::COMPONENT);
        assert_eq!(ErrorKind::Host.exit_code(), exit::INTERNAL);
        assert_eq!(upstream(502).exit_code(), exit::UPSTREAM);
        assert_eq!(InvocationError::Trapped("boom".into()).exit_code(), exit::COMPONENT);
    }
}
