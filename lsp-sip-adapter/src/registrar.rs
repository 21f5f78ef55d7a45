//! The binding rules of RFC 3261 section 10.3, RFC 5626 and RFC 3327, as
//! pure functions of a REGISTER and the stored bindings.

use std::time::Duration;

use lsp_core::{Binding, QValue, UnixTime};

use crate::message::{Request, parse_contacts, split_commas};

/// The expiry limits a registrar enforces, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryLimits {
    /// Below this (and above 0) a REGISTER gets 423 with Min-Expires.
    pub min: u32,
    /// Longer requests are cut to this.
    pub max: u32,
    /// Used when neither the Contact nor the request says.
    pub default: u32,
}

impl Default for ExpiryLimits {
    fn default() -> Self {
        Self {
            min: 60,
            max: 3600,
            default: 3600,
        }
    }
}

/// One Contact of a REGISTER, with its expiry decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactUpdate {
    /// The binding to store, or to remove if `expires` is 0.
    pub binding: Binding,
    /// Granted lifetime in seconds; 0 removes.
    pub expires: u32,
}

/// What a REGISTER asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOp {
    /// No Contact: report the current bindings.
    Fetch,
    /// `Contact: *` with `Expires: 0`: remove every binding.
    RemoveAll,
    /// Add, refresh or remove these contacts.
    Update(Vec<ContactUpdate>),
}

/// Why a REGISTER is refused, as a status code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Status code.
    pub code: u16,
    /// Reason phrase.
    pub reason: String,
}

impl Reject {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// Decides what `request` asks for, applying the expiry limits.
pub fn register_op(
    request: &Request,
    limits: ExpiryLimits,
    max_contacts: usize,
    now: UnixTime,
) -> Result<RegisterOp, Reject> {
    let header_expires = match request.header("Expires") {
        None => None,
        Some(v) => Some(parse_delta(v).ok_or_else(|| Reject::new(400, "Invalid Expires"))?),
    };
    let raw: Vec<&str> = request.header_values("Contact").collect();
    if raw.iter().any(|v| v.trim() == "*") {
        if raw.len() != 1 || header_expires != Some(0) {
            return Err(Reject::new(
                400,
                "Contact * needs Expires: 0 and no other Contact",
            ));
        }
        return Ok(RegisterOp::RemoveAll);
    }
    let path: Vec<String> = request
        .header_values("Path")
        .flat_map(split_commas)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let mut updates = Vec::new();
    for value in raw {
        for c in parse_contacts(value).map_err(|f| Reject::new(400, f))? {
            let mut expires = header_expires.unwrap_or(limits.default);
            let mut binding =
                Binding::new(c.uri.clone(), now, request.call_id.clone(), request.cseq);
            for (name, value) in &c.params {
                let value = value.as_deref().map(unquote);
                match (name.as_str(), value) {
                    ("expires", Some(v)) => {
                        expires = parse_delta(v)
                            .ok_or_else(|| Reject::new(400, "Invalid Contact expires"))?;
                    }
                    ("q", Some(v)) => {
                        binding.q = QValue::parse(v)
                            .map_err(|_| Reject::new(400, "Invalid Contact q-value"))?;
                    }
                    ("+sip.instance", Some(v)) => binding.instance = Some(v.to_owned()),
                    ("reg-id", Some(v)) => {
                        binding.reg_id = Some(
                            v.parse()
                                .map_err(|_| Reject::new(400, "Invalid Contact reg-id"))?,
                        );
                    }
                    _ => {}
                }
            }
            if binding.reg_id.is_some() && binding.instance.is_none() {
                // RFC 5626 section 6: reg-id without an instance is ignored.
                binding.reg_id = None;
            }
            if expires > 0 && expires < limits.min {
                return Err(Reject::new(423, "Interval Too Brief"));
            }
            let expires = expires.min(limits.max);
            binding.expires_at = now + Duration::from_secs(u64::from(expires));
            binding.path = path.clone();
            updates.push(ContactUpdate { binding, expires });
        }
    }
    if updates.is_empty() {
        return Ok(RegisterOp::Fetch);
    }
    if updates.len() > max_contacts {
        return Err(Reject::new(403, "Too many Contacts"));
    }
    Ok(RegisterOp::Update(updates))
}

/// Applies `op` to the live `current` bindings (RFC 3261 section 10.3 step
/// 7): a binding from the same Call-ID changes only with a higher CSeq, and
/// one stale Contact aborts the whole request. A request seen again (same
/// Call-ID, CSeq and Contact) leaves its binding as the first one made it.
pub fn apply(
    current: &[Binding],
    op: &RegisterOp,
    call_id: &str,
    cseq: u32,
) -> Result<Vec<Binding>, Reject> {
    let stale = |b: &Binding| b.call_id == call_id && b.cseq >= cseq;
    match op {
        RegisterOp::Fetch => Ok(current.to_vec()),
        RegisterOp::RemoveAll => {
            if current.iter().any(stale) {
                return Err(Reject::new(400, "Out-of-order CSeq"));
            }
            Ok(Vec::new())
        }
        RegisterOp::Update(updates) => {
            let mut out = current.to_vec();
            for u in updates {
                // The same CSeq with the same Contact is this very request
                // again, come after its transaction was forgotten: it
                // changes nothing and is answered as before.
                let again = |b: &Binding| {
                    u.expires > 0
                        && b.call_id == call_id
                        && b.cseq == cseq
                        && b.contact == u.binding.contact
                        && b.q == u.binding.q
                };
                if out.iter().any(|b| b.same_flow(&u.binding) && again(b)) {
                    continue;
                }
                if out.iter().any(|b| b.same_flow(&u.binding) && stale(b)) {
                    return Err(Reject::new(400, "Out-of-order CSeq"));
                }
                out.retain(|b| !b.same_flow(&u.binding));
                if u.expires > 0 {
                    out.push(u.binding.clone());
                }
            }
            Ok(out)
        }
    }
}

/// A delta-seconds value; values beyond 2^32-1 saturate (RFC 3261 section
/// 20.19 allows reading them as the largest value).
fn parse_delta(v: &str) -> Option<u32> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u32>().unwrap_or(u32::MAX))
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// A Contact header value for `binding` with its remaining lifetime.
pub fn contact_value(binding: &Binding, now: UnixTime) -> String {
    let secs = binding.remaining(now).as_millis().div_ceil(1000);
    let mut v = format!("<{}>;expires={secs}", binding.contact);
    if binding.q != QValue::MAX {
        v.push_str(&format!(";q={}", binding.q));
    }
    if let Some(i) = &binding.instance {
        v.push_str(&format!(";+sip.instance=\"{i}\""));
    }
    if let Some(r) = binding.reg_id {
        v.push_str(&format!(";reg-id={r}"));
    }
    v
}
