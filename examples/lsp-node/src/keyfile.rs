//! Secret key files: 64 hex digits, created with mode 0600 and refused when
//! others can read them, as ssh does.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use lsp_core::Identity;

/// Reads the key at `path`, or creates one there if there is none, whose
/// Node-ID carries `work_bits` bits of proof of work (0: any key).
/// Returns the identity and whether it was created.
pub fn load_or_create(
    path: &Path,
    field: &str,
    work_bits: u32,
) -> Result<(Identity, bool), String> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{field}: {} has mode {mode:o}; others must not read a secret key (chmod 600)",
                    path.display()
                ));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("{field}: {}: {e}", path.display()))?;
            let identity = Identity::from_secret_hex(text.trim()).ok_or_else(|| {
                format!(
                    "{field}: {} does not hold a key (64 hex digits)",
                    path.display()
                )
            })?;
            Ok((identity, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path, work_bits)
            .map_err(|e| format!("{field}: creating {}: {e}", path.display())),
        Err(e) => Err(format!("{field}: {}: {e}", path.display())),
    }
}

fn create(path: &Path, work_bits: u32) -> std::io::Result<(Identity, bool)> {
    if work_bits > 0 {
        println!("minting a Node-ID with {work_bits} bits of proof of work");
    }
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
