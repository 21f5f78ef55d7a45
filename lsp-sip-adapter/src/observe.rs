//! What the service tells an observer of each answer it gives, so that a
//! daemon can keep latency histograms and counts by method and code
//! without this crate choosing a metrics library.

use std::time::Duration;

use ezk_sip_types::Method;

/// A request's method as metrics name it: the ones a registrar and a
/// redirect server serve, and every other as `Other`, so that a label
/// made from it takes few values whatever methods clients invent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// REGISTER.
    Register,
    /// INVITE.
    Invite,
    /// OPTIONS.
    Options,
    /// CANCEL.
    Cancel,
    /// Any other method.
    Other,
}

impl MethodKind {
    pub(crate) fn of(method: &Method) -> Self {
        if *method == Method::REGISTER {
            Self::Register
        } else if *method == Method::INVITE {
            Self::Invite
        } else if *method == Method::OPTIONS {
            Self::Options
        } else if *method == Method::CANCEL {
            Self::Cancel
        } else {
            Self::Other
        }
    }

    /// The method's name, `"other"` for the rest.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "REGISTER",
            Self::Invite => "INVITE",
            Self::Options => "OPTIONS",
            Self::Cancel => "CANCEL",
            Self::Other => "other",
        }
    }
}

/// Told of each answer [`SipService::handle`](crate::SipService::handle)
/// gives: its request's method, the status code, and the time from the
/// request's arrival at the service to the answer. It is called on the
/// request's task: keep it cheap (an atomic add, a histogram bucket).
pub trait AnswerObserver: Send + Sync {
    /// One answer: `code` to a `method` request, `elapsed` after it came.
    fn answered(&self, method: MethodKind, code: u16, elapsed: Duration);
}
