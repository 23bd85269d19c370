//! Writing a file atomically: figures, `.npy` samples and loss histories all go through [`write`].
//! (Checkpoints have their own multi-file protocol in `checkpoint/save.rs`.)

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it onto `path`:
/// a reader sees the old file or the new one, never a part.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Unique per process and per call, so concurrent saves never share a temporary file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .map_err(|e| Error::io(&tmp, e));
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}
