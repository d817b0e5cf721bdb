//! Reading files with clear errors, and writing them whole: a temporary
//! file beside the target, created exclusively with its final mode (a
//! private key is never readable by others, not even for a moment),
//! synced, then moved into place.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{CliError, CliResult};

/// Mode of files only their owner may read: private keys, peppers.
pub(crate) const PRIVATE: u32 = 0o600;
/// Mode of public files: certificates, CRLs.
pub(crate) const PUBLIC: u32 = 0o644;

/// Whether an existing file may be replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replace {
    /// Refuse (exit 3) if the file exists.
    Never,
    /// Replace it atomically.
    Allowed,
}

/// The file's bytes; a missing or unreadable file is a failure that names
/// it.
pub(crate) fn read(path: &Path) -> CliResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| read_error(path, &e))
}

/// The file as UTF-8 text.
pub(crate) fn read_text(path: &Path) -> CliResult<String> {
    let bytes = read(path)?;
    String::from_utf8(bytes)
        .map_err(|_| CliError::failed(format!("{}: not a text (UTF-8) file", path.display())))
}

pub(crate) fn read_error(path: &Path, e: &std::io::Error) -> CliError {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            CliError::failed(format!("{}: no such file", path.display()))
        }
        _ => CliError::failed(format!("cannot read {}: {e}", path.display())),
    }
}

/// Refuses (exit 3) if any of `paths` exists.
pub(crate) fn refuse_existing(paths: &[&Path], hint: &str) -> CliResult {
    for p in paths {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(CliError::refused(format!(
                "{} exists: not replacing it{hint}",
                p.display()
            )));
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` with `mode`, whole or not at all.
pub(crate) fn write(path: &Path, bytes: &[u8], mode: u32, replace: Replace) -> CliResult {
    let write_err =
        |e: std::io::Error| CliError::failed(format!("cannot write {}: {e}", path.display()));
    let tmp = temp_path(path);
    let mut options = std::fs::OpenOptions::new();
    // Exclusively: never through a file or link someone put there.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(e));
    }
    let placed = match replace {
        Replace::Allowed => std::fs::rename(&tmp, path),
        // A hard link fails if the target exists: no window in which
        // another file could be replaced.
        Replace::Never => std::fs::hard_link(&tmp, path).and_then(|()| std::fs::remove_file(&tmp)),
    };
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::refused(format!("{} exists: not replacing it", path.display()))
        } else {
            write_err(e)
        });
    }
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(write_err)?;
    }
    Ok(())
}

/// `<file>.<random>.tmp` beside the file.
fn temp_path(path: &Path) -> PathBuf {
    use rand::Rng as _;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".{:016x}.tmp",
        rand::rand_core::UnwrapErr(rand::rngs::SysRng).next_u64()
    ));
    path.with_file_name(name)
}

/// Checks that `dir` is a directory.
pub(crate) fn require_dir(dir: &Path, what: &str) -> CliResult {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(CliError::failed(format!(
            "{}: not a directory ({what})",
            dir.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CliError::failed(format!(
            "{}: no such directory ({what})",
            dir.display()
        ))),
        Err(e) => Err(read_error(dir, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;

    #[test]
    fn writes_whole_private_files_and_refuses_to_replace() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.key");
        write(&f, b"one", PRIVATE, Replace::Never).unwrap();
        let e = write(&f, b"two", PRIVATE, Replace::Never).unwrap_err();
        assert_eq!(e.exit(), Exit::Refused);
        assert_eq!(std::fs::read(&f).unwrap(), b"one");
        write(&f, b"three", PRIVATE, Replace::Allowed).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"three");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let missing = read(&dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.exit(), Exit::Failed);
        assert!(missing.message().contains("no such file"));
    }
}
