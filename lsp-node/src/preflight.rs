//! What start-up reads and checks before it binds a socket. [`Daemon::start`]
//! runs these steps and creates the key files that are missing;
//! [`Daemon::check`] (`lsp-node check`) runs the same steps reading only,
//! so that it refuses whatever start-up would refuse.
//!
//! [`Daemon::start`]: crate::Daemon::start
//! [`Daemon::check`]: crate::Daemon::check

use std::path::Path;

use lsp_core::{Admission, Identity, UnixTime};
use lsp_transport::ClosedRing;

use crate::config::{NodeConfig, PolicyMode, Role, SipSection};
use crate::enrollment_file::EnrollmentFile;
use crate::error::StartError;
use crate::keyfile::{self, CreatedKey};

/// Whether a missing file is created (start-up) or only noted (check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    Create,
    ReadOnly,
}

/// A key file read, or created because there was none.
pub(crate) struct Key {
    pub(crate) identity: Identity,
    pub(crate) created: Option<CreatedKey>,
}

fn create_key(path: &Path, field: &'static str, work: u32) -> Result<Key, StartError> {
    let (identity, created) = keyfile::load_or_create(path, field, work)?;
    let created = created.then(|| CreatedKey {
        field,
        path: path.to_owned(),
        public_key: identity.public_key(),
    });
    Ok(Key { identity, created })
}

fn key(path: &Path, field: &'static str, keys: Keys) -> Result<Option<Key>, StartError> {
    Ok(match keys {
        Keys::Create => Some(create_key(path, field, 0)?),
        Keys::ReadOnly => keyfile::read(path, field)?.map(|identity| Key {
            identity,
            created: None,
        }),
    })
}

/// The node's key, read or minted, and checked against the ring's
/// admission rule.
pub(crate) fn node_key(config: &NodeConfig) -> Result<Key, StartError> {
    refuse_minting_for_enrollment(config)?;
    let key = create_key(
        &config.identity_file,
        "identity_file",
        config.identity_work_bits(),
    )?;
    admitted(config, &key.identity)?;
    Ok(key)
}

/// [`node_key`] reading only: `None` when start-up would mint the key.
fn existing_node_key(config: &NodeConfig) -> Result<Option<Identity>, StartError> {
    refuse_minting_for_enrollment(config)?;
    let identity = keyfile::read(&config.identity_file, "identity_file")?;
    if let Some(id) = &identity {
        admitted(config, id)?;
    }
    Ok(identity)
}

/// A key minted now cannot be the one a closed ring's enrollment names.
fn refuse_minting_for_enrollment(config: &NodeConfig) -> Result<(), StartError> {
    let closed_member = config.role == Role::Member
        && matches!(config.admission.rule(), Admission::Enrolled { .. });
    if closed_member && !config.identity_file.exists() {
        return Err(StartError::NoKeyToEnroll {
            path: config.identity_file.clone(),
        });
    }
    Ok(())
}

/// A member's key must carry the proof-of-work ring's proof of work.
fn admitted(config: &NodeConfig, identity: &Identity) -> Result<(), StartError> {
    if config.role == Role::Member && !config.admission.rule().admits(&identity.node_id()) {
        return Err(StartError::NotEnoughWork {
            have: lsp_core::work_bits(&identity.node_id()),
            want: config.identity_work_bits(),
        });
    }
    Ok(())
}

/// The closed ring's settings for the transport, with this member's
/// enrollment read and checked: one that every member would refuse stops
/// the node here, with the fix.
pub(crate) fn closed_ring(
    config: &NodeConfig,
    identity: Option<&Identity>,
) -> Result<Option<ClosedRing>, StartError> {
    let Admission::Enrolled { ring } = config.admission.rule() else {
        return Ok(None);
    };
    let enrollment = match (&config.admission.enrollment_file, config.role, identity) {
        (Some(path), Role::Member, Some(identity)) => {
            let refused = |source| StartError::Enrollment {
                path: path.clone(),
                source: Box::new(source),
                node: identity.node_id(),
            };
            let text =
                std::fs::read_to_string(path).map_err(|source| StartError::EnrollmentFile {
                    path: path.clone(),
                    source,
                })?;
            let file = EnrollmentFile::parse(&text).map_err(refused)?;
            file.check(&ring, &identity.node_id(), UnixTime::now())
                .map_err(refused)?;
            Some(file.enrollment)
        }
        _ => None,
    };
    Ok(Some(ClosedRing { ring, enrollment }))
}

/// The SIP front's domain key, which the ring's trust anchors must name
/// for every domain its registrar serves. `None`: a redirect server alone,
/// or under [`Keys::ReadOnly`] a key start-up would create.
pub(crate) fn domain_key(
    section: &SipSection,
    config: &NodeConfig,
    keys: Keys,
) -> Result<Option<Key>, StartError> {
    let Some(path) = &section.domain_key_file else {
        return Ok(None);
    };
    let key = key(path, "sip.domain_key_file", keys)?;
    if section.registrar && config.policy.mode == PolicyMode::Anchors {
        let public_key = match &key {
            Some(k) => k.identity.public_key(),
            None => {
                return Err(StartError::Sip {
                    field: "sip.domain_key_file",
                    message: format!(
                        "{} does not exist, and a new key would not be in policy.anchors: \
                         make it with `lsp-node keygen` and anchor its public key",
                        path.display()
                    ),
                });
            }
        };
        for d in &section.domains {
            if !config.policy.anchors_for(d).any(|k| k == public_key) {
                return Err(StartError::Sip {
                    field: "sip.domain_key_file",
                    message: format!("key {public_key} is not in policy.anchors for {d}"),
                });
            }
        }
    }
    Ok(key)
}

/// The local store's file holds every registration with its Contacts: it
/// is created readable by its owner alone, and refused when others may
/// read it, as key files are.
pub(crate) fn private_db(path: &Path, keys: Keys) -> Result<(), StartError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fault = |message: String| StartError::Sip {
        field: "sip.local_db",
        message: format!("{}: {message}", path.display()),
    };
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(fault(format!(
                    "has mode {mode:o}; others must not read the registrations (chmod 600)"
                )));
            }
        }
        Err(_) if keys == Keys::Create => {
            (std::fs::OpenOptions::new().write(true).create_new(true))
                .mode(0o600)
                .open(path)
                .map_err(|e| fault(e.to_string()))?;
        }
        Err(_) => {}
    }
    Ok(())
}

/// Every step of start-up that reads files, reading only.
pub(crate) fn check(config: &NodeConfig) -> Result<(), StartError> {
    let identity = existing_node_key(config)?;
    closed_ring(config, identity.as_ref())?;
    config.bootstrap_peers()?;
    if let Some(section) = &config.sip {
        domain_key(section, config, Keys::ReadOnly)?;
        if let Some(path) = &section.local_db {
            private_db(path, Keys::ReadOnly)?;
        }
    }
    Ok(())
}
