//! Least privilege: `capture --user NAME` gives up root once the capture
//! handles are open (as `tcpdump -Z` does), and every output file is
//! created readable by its owner and group only.
//!
//! The order in `capture` is: open the interfaces (raw sockets need
//! CAP_NET_RAW), bind the metrics port (a port under 1024 needs root), drop
//! to the user, then create the output files, owned by that user. What the
//! sensor does with hostile traffic afterwards, it does without privileges.
//! Without `--user`, an unprivileged account can capture with file
//! capabilities instead of root:
//! `setcap cap_net_raw,cap_net_admin+eip /usr/local/bin/lanterne`.
//!
//! Nothing read from the network is ever used in a file path or handed to
//! a shell: output paths come from the command line, and the only variable
//! part of a generated name (`--hourly` files) is a time stamp, formatted
//! from a number.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::path::Path;

/// Mode of the files lanterne creates: the summaries, events and facts
/// name internal hosts (`rw-r-----`).
pub const OUTPUT_MODE: u32 = 0o640;

/// Creates (or truncates) an output file, with [`OUTPUT_MODE`] if new.
pub fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(OUTPUT_MODE)
        .open(path)
}

/// A user account: its ids and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Looks up a user account by name (a bare number is not enough: its group
/// would be a guess).
pub fn lookup(name: &str) -> Result<Account, String> {
    let c = CString::new(name).map_err(|_| format!("--user {name:?}: not a user name"))?;
    // SAFETY: an all-zero passwd is a valid value to be filled in.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16 * 1024];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: valid pointers to a passwd, a buffer of the given length and
    // the result slot; the strings it sets point into `buf`.
    let r = unsafe {
        libc::getpwnam_r(
            c.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut out,
        )
    };
    if r != 0 || out.is_null() {
        return Err(format!("--user {name}: no such user"));
    }
    // SAFETY: pw_name points to a NUL-terminated string in `buf`.
    let name = unsafe { CStr::from_ptr(pwd.pw_name) }
        .to_string_lossy()
        .into_owned();
    Ok(Account {
        name,
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    })
}

/// Becomes `user` for good: its groups, its group, then its user id, and
/// no capability left. As root; an unprivileged process (capturing with file
/// capabilities) may only "become" itself, which gives up its capabilities.
pub fn drop_to(user: &str) -> Result<Account, String> {
    let acct = lookup(user)?;
    let fail = |what: &str| format!("--user {user}: {what}: {}", io::Error::last_os_error());
    // SAFETY: plain system calls with integer arguments or a valid C string.
    unsafe {
        if libc::geteuid() != 0 {
            if libc::geteuid() != acct.uid {
                return Err(format!("--user {user}: changing user needs root"));
            }
        } else {
            let name = CString::new(acct.name.as_str()).map_err(|e| e.to_string())?;
            if libc::initgroups(name.as_ptr(), acct.gid as libc::gid_t) != 0 {
                return Err(fail("initgroups"));
            }
            if libc::setgid(acct.gid as libc::gid_t) != 0 {
                return Err(fail("setgid"));
            }
            if libc::setuid(acct.uid as libc::uid_t) != 0 {
                return Err(fail("setuid"));
            }
            // There is no way back (unless the user is root itself).
            if acct.uid != 0 && (libc::setuid(0) == 0 || libc::seteuid(0) == 0) {
                return Err(format!("--user {user}: root could be regained"));
            }
        }
    }
    // (Leaving root cleared them already, unless the user is root; file
    // capabilities stay otherwise.)
    drop_capabilities().map_err(|e| format!("--user {user}: capset: {e}"))?;
    Ok(acct)
}

/// Empties this process's effective, permitted and inheritable capability
/// sets (capset(2); the ambient set follows the permitted one).
fn drop_capabilities() -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset with a valid header and the two data words version 3
    // expects, for this process.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn outputs_are_not_world_readable() {
        let dir = std::env::temp_dir().join(format!("lanterne-priv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("out.json");
        create_private(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        // (The umask may take more away, never add.)
        assert_eq!(mode & !OUTPUT_MODE, 0, "{mode:o}");
        assert_eq!(mode & 0o600, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn users_by_name_and_number() {
        let root = lookup("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(lookup("4242").unwrap_err().contains("no such user"));
        assert!(lookup("no-such-user-here")
            .unwrap_err()
            .contains("no such user"));
        assert!(lookup("a\0b").is_err());
    }
}
