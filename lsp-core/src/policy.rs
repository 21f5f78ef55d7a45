//! Who may write an AOR (draft section 4: only an authorized publisher).
//!
//! Stores call the policy after the signature checks out, so a policy judges
//! the proven publisher key, never a claim.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;

use crate::{AccessRefusal, Error, PublicKey, SignedRecord};

/// Decides whether a publisher may write a record's AOR.
pub trait AccessPolicy: Send + Sync + Debug {
    /// `owners` are the publishers that hold a live record for the same AOR
    /// in the store being written (empty for a new AOR).
    fn authorize(&self, record: &SignedRecord, owners: &[PublicKey]) -> Result<(), Error>;

    /// Whether the publisher writes `record` with authority over its AOR
    /// (a domain's trust anchor): then the store's per-publisher quota
    /// does not apply, since such a key publishes a whole domain.
    fn vouches(&self, record: &SignedRecord) -> bool {
        let _ = record;
        false
    }
}

/// A shared policy, so one instance can guard several stores.
impl<P: AccessPolicy + ?Sized> AccessPolicy for Arc<P> {
    fn authorize(&self, record: &SignedRecord, owners: &[PublicKey]) -> Result<(), Error> {
        (**self).authorize(record, owners)
    }

    fn vouches(&self, record: &SignedRecord) -> bool {
        (**self).vouches(record)
    }
}

/// Anyone may write anything. For tests and closed deployments only.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenPolicy;

impl AccessPolicy for OpenPolicy {
    fn authorize(&self, _: &SignedRecord, _: &[PublicKey]) -> Result<(), Error> {
        Ok(())
    }

    /// Anyone may write anything, as much as the store holds.
    fn vouches(&self, _: &SignedRecord) -> bool {
        true
    }
}

/// Pure-P2P self-registration: the first key to publish an AOR owns it while
/// its record lives (including the replay guard left after a removal); other
/// keys are refused until then.
#[derive(Debug, Default, Clone, Copy)]
pub struct FirstComeFirstServed;

impl AccessPolicy for FirstComeFirstServed {
    fn authorize(&self, record: &SignedRecord, owners: &[PublicKey]) -> Result<(), Error> {
        if owners.is_empty() || owners.contains(&record.publisher) {
            Ok(())
        } else {
            Err(Error::Unauthorized(AccessRefusal::OwnedByAnotherKey))
        }
    }
}

/// Domain trust anchors: the registrar keys authorized for each domain. An
/// AOR whose host is not a configured domain is refused, unless
/// [`DomainTrustAnchors::otherwise`] names a policy for those.
#[derive(Debug, Default, Clone)]
pub struct DomainTrustAnchors {
    anchors: HashMap<String, HashSet<PublicKey>>,
    others: Option<Arc<dyn AccessPolicy>>,
}

impl DomainTrustAnchors {
    /// No domain trusted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Authorizes `key` to publish the AORs of `domain` (case-insensitive).
    pub fn trust(mut self, domain: &str, key: PublicKey) -> Self {
        self.anchors
            .entry(domain.to_ascii_lowercase())
            .or_default()
            .insert(key);
        self
    }

    /// Judges AORs of unanchored domains by `policy` instead of refusing
    /// them: a hybrid ring where registrars own their domains and UAs
    /// self-register anywhere else (`FirstComeFirstServed`).
    pub fn otherwise(mut self, policy: impl AccessPolicy + 'static) -> Self {
        self.others = Some(Arc::new(policy));
        self
    }

    /// The keys trusted for `domain`.
    pub fn keys_for(&self, domain: &str) -> impl Iterator<Item = &PublicKey> {
        self.anchors
            .get(&domain.to_ascii_lowercase())
            .into_iter()
            .flatten()
    }
}

impl AccessPolicy for DomainTrustAnchors {
    fn authorize(&self, record: &SignedRecord, owners: &[PublicKey]) -> Result<(), Error> {
        let host = record.record.aor.host();
        match (self.anchors.get(host), &self.others) {
            (Some(keys), _) if keys.contains(&record.publisher) => Ok(()),
            (Some(_), _) => Err(Error::Unauthorized(AccessRefusal::NotAnAnchor {
                domain: host.to_owned(),
            })),
            (None, Some(others)) => others.authorize(record, owners),
            (None, None) => Err(Error::Unauthorized(AccessRefusal::NoAnchor {
                domain: host.to_owned(),
            })),
        }
    }

    fn vouches(&self, record: &SignedRecord) -> bool {
        let host = record.record.aor.host();
        (self.anchors.get(host)).is_some_and(|keys| keys.contains(&record.publisher))
    }
}
