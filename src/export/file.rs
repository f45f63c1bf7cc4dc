//! Writing reports, baselines, configurations and cache entries to files without ever leaving a
//! half-written one behind: a temporary file in the target's directory, then a rename.
//!
//! - The target is the file a symlink points to (the link stays a link), and a target that is
//!   not a regular file (`/dev/stdout`, a FIFO) is written in place: renaming over a device
//!   node would replace it with a regular file.
//! - Temporary files are named `.faultmap-tmp-<pid>-<random>`. One left by a killed process
//!   (its pid no longer runs, or, without `/proc`, older than a day) is removed by the next
//!   write to the same directory.
//! - [`write_new`] refuses to replace an existing file, atomically: of two processes creating
//!   the same file, exactly one succeeds.
//! - Errors name the user's path, never the temporary file.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Prefix of every temporary file faultmap writes.
pub const TEMP_PREFIX: &str = ".faultmap-tmp-";

/// Without `/proc`, a temporary file this old is taken to be left by a killed process.
const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Directories whose stale temporary files this process has already removed.
static CLEANED: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Symlinks followed before giving up (the kernel's own limit is 40).
const MAX_LINKS: usize = 40;

/// Writes `bytes` to `path`, replacing what is there. A replaced file keeps its permissions; a
/// new one gets what the shell would create (0666 less the umask).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write(path, bytes, false)
}

/// Writes `bytes` to `path`, which must not exist yet: `Err` with
/// [`std::io::ErrorKind::AlreadyExists`] when it does, even when another process creates it
/// while this one writes.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    write(path, bytes, true)
}

fn write(path: &Path, bytes: &[u8], exclusive: bool) -> Result<()> {
    let meta = std::fs::metadata(path).ok();
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(Error::io(
            path,
            std::io::Error::other("is a directory, not a file"),
        ));
    }
    if exclusive && meta.is_some() {
        return Err(Error::io(
            path,
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    let target = resolve_links(path).map_err(|e| Error::io(path, e))?;
    // A device, FIFO or socket, or a stream reached through /dev or /proc (`/dev/stdout` on a
    // pipe or an appended file): written in place, as a rename would replace the node or the
    // file the stream appends to.
    let is_stream = meta.as_ref().is_some_and(|m| !m.is_file())
        || target.starts_with("/proc")
        || target.starts_with("/dev");
    if is_stream {
        // Appending keeps what a `>>` redirection already holds; on a device it changes nothing.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        return file
            .write_all(bytes)
            .and_then(|_| file.flush())
            .map_err(|e| Error::io(path, e));
    }
    let permissions = match std::fs::metadata(&target) {
        Ok(meta) => Some(meta.permissions()),
        Err(_) => new_file_permissions(),
    };
    // The temporary file's errors carry its name; the user's path replaces it.
    let fail = |e: std::io::Error| Error::io(path, without_temp_path(e));
    let mut tmp = temp_file_in(parent(&target), permissions).map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    let persisted = if exclusive {
        tmp.persist_noclobber(&target)
    } else {
        tmp.persist(&target)
    };
    persisted.map_err(|e| fail(e.error))?;
    Ok(())
}

/// The error without the temporary file's path, which `tempfile` appends to its message as
/// ` at path "..."`.
fn without_temp_path(e: std::io::Error) -> std::io::Error {
    let message = e.to_string();
    match message.split_once(" at path ") {
        Some((before, _)) => std::io::Error::new(e.kind(), before.to_string()),
        None => e,
    }
}

/// A new temporary file in `dir`, named with [`TEMP_PREFIX`] and this process's id. The first
/// time this process writes to `dir`, the stale ones other faultmap processes left there are
/// removed: once, because the cache writes thousands of entries to a few directories, and
/// listing a directory per entry would make a run quadratic in its cache size.
pub fn temp_file_in(
    dir: &Path,
    permissions: Option<std::fs::Permissions>,
) -> std::io::Result<tempfile::NamedTempFile> {
    let first_visit = CLEANED
        .lock()
        .map(|mut seen| seen.insert(dir.to_path_buf()))
        .unwrap_or(false);
    if first_visit {
        remove_stale(dir);
    }
    let prefix = format!("{TEMP_PREFIX}{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    if let Some(p) = permissions {
        builder.permissions(p);
    }
    builder.tempfile_in(dir)
}

/// The directory of `path` (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `path` with its symlinks followed (relative links resolve against the link's directory); a
/// link to a missing file gives that file's path, so the file is created where it points.
/// Stops at the first step under /dev or /proc, whose links may name no file (`pipe:[...]`).
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        if current.starts_with("/proc") || current.starts_with("/dev") {
            return Ok(current);
        }
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let to = std::fs::read_link(&current)?;
                current = parent(&current).join(to);
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Removes temporary files of faultmap processes that no longer run. Best effort: a file that
/// cannot be read or removed is left alone.
fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let have_proc = Path::new("/proc/self").exists();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let stale = match pid {
            Some(pid) if have_proc => !Path::new(&format!("/proc/{pid}")).exists(),
            _ => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > STALE_AFTER),
        };
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// 0666 less the process's umask (Linux reports it in /proc/self/status; elsewhere 022 is
/// assumed), as `open(2)` would give a new file.
#[cfg(unix)]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022);
    Some(std::fs::Permissions::from_mode(0o666 & !umask))
}

#[cfg(not(unix))]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        // a dangling link: the file is created where it points
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink("made.json", &dangling).unwrap();
        write_atomic(&dangling, b"made").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("made.json")).unwrap(),
            "made"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_written_in_place() {
        // /dev/null stays a device, and writing to it succeeds.
        write_atomic(Path::new("/dev/null"), b"report").unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }

    #[test]
    fn write_new_refuses_an_existing_file_and_one_of_many_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.json");
        let winners: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let path = &path;
                    s.spawn(move || write_new(path, format!("{i}").as_bytes()).is_ok())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(winners, 1);
        let err = write_new(&path, b"again").unwrap_err().to_string();
        assert!(
            err.contains("baseline.json") && !err.contains(TEMP_PREFIX),
            "{err}"
        );
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }

    #[test]
    fn stale_temporary_files_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // pid 0 never names a user process; this process's own files are live
        let stale = dir.path().join(format!("{TEMP_PREFIX}0-abcdef"));
        let live = dir
            .path()
            .join(format!("{TEMP_PREFIX}{}-abcdef", std::process::id()));
        let other = dir.path().join(".tmpabcdef");
        for p in [&stale, &live, &other] {
            std::fs::write(p, "x").unwrap();
        }
        write_atomic(&dir.path().join("report.json"), b"{}").unwrap();
        if Path::new("/proc/self").exists() {
            assert!(
                !stale.exists(),
                "a dead process's temporary file is removed"
            );
        }
        assert!(live.exists() && other.exists(), "others are left alone");
    }

    #[test]
    fn errors_name_the_users_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("missing/report.json"), b"x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing/report.json"), "{err}");
        assert!(!err.contains(TEMP_PREFIX), "{err}");
        let err = write_atomic(dir.path(), b"x").unwrap_err().to_string();
        assert!(err.contains("directory"), "{err}");
    }
}
