//! Secret key files: 64 hex digits, created with mode 0600 and refused when
//! others can read them, as ssh does.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use lsp_core::Identity;

/// A key file that [`crate::Daemon::start`] created because there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedKey {
    /// The configuration field that names it.
    pub field: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Its public key: a domain's trust anchor.
    pub public_key: lsp_core::PublicKey,
}

/// A key file that cannot be used, with the configuration field or command
/// line option that named it.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Others may read the file.
    #[error("{field}: {} has mode {mode:o}; others must not read a secret key (chmod 600)", path.display())]
    Exposed {
        /// The field or option naming the file.
        field: String,
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold 64 hex digits.
    #[error("{field}: {} does not hold a key (64 hex digits): {reason}", path.display())]
    NotAKey {
        /// The field or option naming the file.
        field: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: lsp_core::HexError,
    },
    /// Reading or creating the file failed.
    #[error("{field}: {}{}: {source}", if *creating { "creating " } else { "" }, path.display())]
    Io {
        /// The field or option naming the file.
        field: String,
        /// The file.
        path: PathBuf,
        /// Whether the file was being created.
        creating: bool,
        /// Why.
        source: std::io::Error,
    },
}

/// Reads the key at `path`, or creates one there if there is none, whose
/// Node-ID carries `work_bits` bits of proof of work (0: any key; minting
/// takes about 2^work_bits key generations). Returns the identity and
/// whether it was created.
pub fn load_or_create(
    path: &Path,
    field: &str,
    work_bits: u32,
) -> Result<(Identity, bool), KeyFileError> {
    match read(path, field)? {
        Some(identity) => Ok((identity, false)),
        None => create(path, work_bits).map_err(|source| KeyFileError::Io {
            field: field.to_owned(),
            path: path.to_owned(),
            creating: true,
            source,
        }),
    }
}

/// Reads the key at `path`; `None` when there is no file (start-up would
/// create one). A file others may read, or one that holds no key, is an
/// error, as it is for [`load_or_create`].
pub fn read(path: &Path, field: &str) -> Result<Option<Identity>, KeyFileError> {
    let (field, path_buf) = (field.to_owned(), path.to_owned());
    match Identity::load(path) {
        Ok(identity) => Ok(Some(identity)),
        Err(lsp_core::KeyFileError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(lsp_core::KeyFileError::Io(source)) => Err(KeyFileError::Io {
            field,
            path: path_buf,
            creating: false,
            source,
        }),
        Err(lsp_core::KeyFileError::Exposed { mode }) => Err(KeyFileError::Exposed {
            field,
            path: path_buf,
            mode,
        }),
        Err(lsp_core::KeyFileError::NotAKey(reason)) => Err(KeyFileError::NotAKey {
            field,
            path: path_buf,
            reason,
        }),
    }
}

fn create(path: &Path, work_bits: u32) -> std::io::Result<(Identity, bool)> {
    let identity = lsp_core::mint_identity(work_bits).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{}", identity.secret_hex())?;
    file.sync_all()?;
    Ok((identity, true))
}
