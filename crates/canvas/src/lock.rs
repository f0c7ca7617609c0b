//! One `canvas serve` per embedded store: two engines and two schedulers on
//! one SQLite file would both claim and fire. The lock is the operating
//! system's (`flock`), so it goes with the process however it ends.

use anyhow::{Context, bail};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// Held for the server's lifetime; dropping it releases the folder.
pub struct DataDirLock {
    _file: File,
}

/// Takes `<data_dir>/serve.lock`, or says which process holds it.
pub fn lock_data_dir(data_dir: &Path) -> anyhow::Result<DataDirLock> {
    let path = data_dir.join("serve.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            // The holder may not have written its pid yet.
            let pid = match holder.trim() {
                "" => "unknown".to_string(),
                pid => pid.to_string(),
            };
            bail!(
                "another canvas serve (pid {pid}) is using the data folder {}; stop it, or give this one \
                 its own --data-dir (nodes that share work share a PostgreSQL store, --database-url)",
                data_dir.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    Ok(DataDirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_folder_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_data_dir(dir.path()).unwrap();
        // flock locks belong to the open file description: a second open is a second holder.
        let refused = lock_data_dir(dir.path()).err().unwrap().to_string();
        assert!(
            refused.contains(&format!("pid {}", std::process::id())),
            "{refused}"
        );
        drop(held);
        assert!(lock_data_dir(dir.path()).is_ok());
    }
}
