//! One training process per run folder: an advisory lock on `train.lock` in the folder, held
//! for the whole of [`super::Run::train`], with the holder's process id written inside.
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on Windows, through
//! `std::fs::File::try_lock`): it vanishes with the process that holds it, however that process
//! ends, so a lock file left by a killed run blocks nobody. The file itself is never removed
//! (removing it while another process opens it would let two processes lock two files).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::{Error, Result};

/// The lock file's name in a run folder.
pub const LOCK_FILE: &str = "train.lock";

/// The held lock of a run folder; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub(crate) struct FolderLock {
    _file: File,
}

/// Takes the lock of the run folder `dir` (creating the folder if need be), or refuses at once
/// with [`Error::Busy`] naming the process that holds it.
pub(crate) fn lock(dir: &Path) -> Result<FolderLock> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {
            let pid = std::process::id().to_string();
            let written = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| file.write_all(pid.as_bytes()));
            written.map_err(|e| Error::io(&path, e))?;
            Ok(FolderLock { _file: file })
        }
        Err(TryLockError::WouldBlock) => {
            // The holder may not have written its id yet: then it is unknown.
            let mut text = String::new();
            let pid = file.read_to_string(&mut text).ok().and_then(|_| text.trim().parse::<u32>().ok());
            Err(Error::Busy { dir: dir.to_path_buf(), pid })
        }
        Err(TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}
