//! The SQLite writer's VFS: SQLite's own (`unix`), with the writes to a database and its WAL
//! handed to the operating system in one system call a run instead of one a piece.
//!
//! SQLite appends each page of a commit to the WAL in two writes, the frame's 24-byte header
//! and then the page, so a group commit of 80 pages is 160 `pwrite` calls, each paying the
//! kernel's fixed cost of a file write (for the header, nearly all of it); a checkpoint then
//! writes the pages to the database one call each, in page order. This VFS holds a file's
//! writes while each continues the one before, and hands the run over before any other call
//! on that file: a sync (a commit, the end of a checkpoint), a read, a truncation, a size
//! query, a lock, a file control, a close, or a write elsewhere in the file. The operating
//! system then sees the same bytes at the same places in the same order relative to every
//! sync, read and lock.
//!
//! Other connections read those files through handles of their own, so the VFS is correct
//! only where SQLite syncs before it lets them read what it wrote: in WAL mode at
//! `synchronous=FULL` or `EXTRA`, a commit's frames are synced before the commit is published
//! in the WAL-index, and a checkpoint syncs the database before it marks the frames copied.
//! At `NORMAL` or `OFF` a commit would be published while its frames are still held. Zaryad
//! opens only its writer's connection through it, at `FULL` (which a test of the store holds).
//!
//! This is the one crate of the workspace with `unsafe` code: SQLite's VFS is a C interface of
//! function pointers over memory SQLite allocates. Each function only forwards to the wrapped
//! VFS or copies bytes into or out of the held run; tests drive it through SQLite itself.

#![allow(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::ffi;

/// The name a connection opens its file with to use this VFS, once [`register`]ed.
pub const NAME: &str = "zaryad-wal";

/// [`NAME`] as SQLite takes it.
const C_NAME: &CStr = c"zaryad-wal";

/// Held bytes past which a write hands the run over first (a larger write is held alone): a
/// group commit of a busy node is a few hundred KiB, and the buffer, once grown, is kept for
/// the file's life.
const HOLD_LIMIT: usize = 4 << 20;

/// The most one write hands to the wrapped file: the unix VFS passes at most 128 KiB - 1 to
/// one `pwrite` (it masks the length) and reports a full disk when a remainder masks to 0.
const WRITE_LIMIT: usize = 124 << 10;

/// Registers the VFS as [`NAME`], once per process (it wraps the process's default VFS);
/// `Err` holds SQLite's result code when SQLite refused.
pub fn register() -> Result<(), c_int> {
    static REGISTERED: OnceLock<Result<&'static Counts, c_int>> = OnceLock::new();
    REGISTERED.get_or_init(|| register_as(C_NAME)).map(|_| ())
}

/// Whether `conn`'s main database was opened through the VFS [`register`] makes.
pub fn opened_through(conn: &rusqlite::Connection) -> bool {
    let mut vfs: *mut ffi::sqlite3_vfs = ptr::null_mut();
    // SAFETY: the handle is live for the borrow of `conn`; SQLite answers
    // SQLITE_FCNTL_VFS_POINTER itself, writing a pointer to a registered VFS into `vfs`, and
    // sqlite3_vfs_find only reads its list of VFSs.
    unsafe {
        let rc = ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_VFS_POINTER,
            ptr::from_mut(&mut vfs).cast(),
        );
        rc == ffi::SQLITE_OK && !vfs.is_null() && vfs == ffi::sqlite3_vfs_find(C_NAME.as_ptr())
    }
}

/// What the held files of one registered VFS did: how much the holding saves.
#[derive(Default)]
pub struct Counts {
    received: AtomicU64,
    handed_over: AtomicU64,
}

impl Counts {
    /// Writes SQLite made to the files this VFS holds writes for (databases and WALs).
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Writes handed to the wrapped VFS for those files.
    pub fn handed_over(&self) -> u64 {
        self.handed_over.load(Ordering::Relaxed)
    }
}

/// Registers this VFS under `name`, a name not registered before, wrapping the default VFS,
/// and returns its counts; each call leaks two small structs, so it is for [`register`] and
/// for tests that need counts of their own.
pub fn register_as(name: &'static CStr) -> Result<&'static Counts, c_int> {
    // SAFETY: sqlite3_initialize, sqlite3_vfs_find and sqlite3_vfs_register are safe to call
    // from any thread; the VFS and what it points to are leaked, so they outlive every
    // connection that names them.
    unsafe {
        let rc = ffi::sqlite3_initialize();
        if rc != ffi::SQLITE_OK {
            return Err(rc);
        }
        let inner = ffi::sqlite3_vfs_find(ptr::null());
        if inner.is_null() {
            return Err(ffi::SQLITE_ERROR);
        }
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            inner,
            counts: Counts::default(),
        }));
        let vfs = Box::leak(Box::new(wrapping(name, shared)));
        match ffi::sqlite3_vfs_register(vfs, 0) {
            ffi::SQLITE_OK => Ok(&shared.counts),
            rc => Err(rc),
        }
    }
}

/// What a registered VFS keeps: the VFS it wraps and its counts.
struct Shared {
    inner: *mut ffi::sqlite3_vfs,
    counts: Counts,
}

// SAFETY: `inner` is a registered VFS, which SQLite never frees and whose methods may be
// called from any thread; the counts are atomics.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// Our file: the wrapped VFS's file follows it in the same allocation (SQLite allocates
/// `szOsFile` bytes for each file it opens).
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    /// The writes held for a database or WAL file; null for every other file.
    held: *mut Held,
    /// The VFS that opened the file.
    shared: *const Shared,
}

/// Writes not yet handed over: `bytes` belong at `offset`, in one run.
#[derive(Default)]
struct Held {
    offset: i64,
    bytes: Vec<u8>,
}

/// Where the wrapped file starts in ours: `File` rounded up to 8 bytes, SQLite's alignment.
const INNER_AT: usize = std::mem::size_of::<File>().next_multiple_of(8);

fn wrapping(name: &'static CStr, shared: &'static Shared) -> ffi::sqlite3_vfs {
    // SAFETY: `inner` is a registered VFS, which SQLite never frees.
    let base = unsafe { &*shared.inner };
    ffi::sqlite3_vfs {
        // Version 3 adds only the system-call overrides, which are for SQLite's own tests.
        iVersion: base.iVersion.min(2),
        szOsFile: base.szOsFile + INNER_AT as c_int,
        mxPathname: base.mxPathname,
        pNext: ptr::null_mut(),
        zName: name.as_ptr(),
        pAppData: ptr::from_ref(shared).cast_mut().cast(),
        xOpen: Some(open),
        xDelete: Some(delete),
        xAccess: Some(access),
        xFullPathname: Some(full_pathname),
        xDlOpen: Some(dl_open),
        xDlError: Some(dl_error),
        xDlSym: Some(dl_sym),
        xDlClose: Some(dl_close),
        xRandomness: Some(randomness),
        xSleep: Some(sleep),
        xCurrentTime: Some(current_time),
        xGetLastError: Some(get_last_error),
        xCurrentTimeInt64: Some(current_time_int64),
        xSetSystemCall: None,
        xGetSystemCall: None,
        xNextSystemCall: None,
    }
}

/// What [`register_as`] keeps with the VFS.
///
/// # Safety
/// `vfs` is a VFS [`register_as`] made.
unsafe fn shared(vfs: *mut ffi::sqlite3_vfs) -> &'static Shared {
    unsafe { &*(*vfs).pAppData.cast::<Shared>() }
}

/// The wrapped VFS.
///
/// # Safety
/// As [`shared`].
unsafe fn inner_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    unsafe { shared(vfs).inner }
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite gives `file` szOsFile bytes, room for our header and the inner file, and
    // `vfs` is ours.
    unsafe {
        let ours = file.cast::<File>();
        let inner = file.cast::<u8>().add(INNER_AT).cast::<ffi::sqlite3_file>();
        (*ours).base.pMethods = ptr::null();
        (*ours).inner = inner;
        (*ours).held = ptr::null_mut();
        (*ours).shared = shared(vfs);
        (*inner).pMethods = ptr::null();
        let wrapped = inner_vfs(vfs);
        let Some(inner_open) = (*wrapped).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        let rc = inner_open(wrapped, name, inner, flags, out_flags);
        // SQLite calls xClose whenever pMethods is set, even after a failed open.
        if !(*inner).pMethods.is_null() {
            (*ours).base.pMethods = &METHODS;
            let holds = flags & (ffi::SQLITE_OPEN_MAIN_DB | ffi::SQLITE_OPEN_WAL) != 0;
            if rc == ffi::SQLITE_OK && holds {
                (*ours).held = Box::into_raw(Box::default());
            }
        }
        rc
    }
}

/// Version 3, as the default VFS's files (the `unix` VFS with POSIX locks) have: a wrapped file
/// without shared memory or mapping, which only other locking styles give, would answer
/// those calls with an error instead of SQLite's fallback.
static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

/// The wrapped file and its methods.
///
/// # Safety
/// `file` was opened by [`open`], which set its pMethods.
unsafe fn inner(
    file: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    unsafe {
        let inner = (*file.cast::<File>()).inner;
        (inner, &*(*inner).pMethods)
    }
}

/// The counts of the VFS that opened `file`.
///
/// # Safety
/// As [`inner`].
unsafe fn counts(file: *mut ffi::sqlite3_file) -> &'static Counts {
    unsafe { &(*(*file.cast::<File>()).shared).counts }
}

/// Hands the held run over; SQLITE_OK when there was none.
///
/// # Safety
/// As [`inner`].
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let held = (*file.cast::<File>()).held;
        if held.is_null() || (*held).bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        let held = &mut *held;
        let (inner, methods) = inner(file);
        let Some(inner_write) = methods.xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let mut rc = ffi::SQLITE_OK;
        let mut offset = held.offset;
        for chunk in held.bytes.chunks(WRITE_LIMIT) {
            counts(file).handed_over.fetch_add(1, Ordering::Relaxed);
            // A chunk's length fits: WRITE_LIMIT is far below 2 GiB.
            rc = inner_write(inner, chunk.as_ptr().cast(), chunk.len() as c_int, offset);
            if rc != ffi::SQLITE_OK {
                break;
            }
            offset += chunk.len() as i64;
        }
        // On failure the run is dropped too: SQLite takes the error as its call's (a commit's,
        // a read's) and counts on nothing it wrote since its last sync.
        held.bytes.clear();
        rc
    }
}

/// The wrapped file and its methods, after the held run is handed over: what every call but
/// a write and the two questions about the device does first.
///
/// # Safety
/// As [`inner`].
unsafe fn settled(
    file: *mut ffi::sqlite3_file,
) -> Result<(*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods), c_int> {
    unsafe {
        match flush(file) {
            ffi::SQLITE_OK => Ok(inner(file)),
            rc => Err(rc),
        }
    }
}

/// Defines `$name`, SQLite's `$method` of a file: once the held run is handed over, the
/// wrapped file's `$method`, or `$missing` when it has none.
macro_rules! settled_method {
    ($name:ident, $method:ident, $missing:expr, ($($arg:ident: $type:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $type),*) -> c_int {
            // SAFETY: SQLite calls a file's methods only on a file `open` set them on.
            unsafe {
                match settled(file) {
                    Err(rc) => rc,
                    Ok((inner, methods)) => match methods.$method {
                        Some(method) => method(inner, $($arg),*),
                        None => $missing,
                    },
                }
            }
        }
    };
}

/// Defines `$name`, SQLite's `$method` of a file, as the wrapped file's `$method` alone (or
/// `$missing`): calls that touch no bytes of the file.
macro_rules! passed_method {
    ($name:ident, $method:ident, $missing:expr, ($($arg:ident: $type:ty),*) -> $out:ty) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $type),*) -> $out {
            // SAFETY: as in `settled_method`.
            unsafe {
                let (inner, methods) = inner(file);
                match methods.$method {
                    Some(method) => method(inner, $($arg),*),
                    None => $missing,
                }
            }
        }
    };
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let flushed = flush(file);
        let ours = file.cast::<File>();
        if !(*ours).held.is_null() {
            drop(Box::from_raw((*ours).held));
            (*ours).held = ptr::null_mut();
        }
        let (inner, methods) = inner(file);
        let closed = methods.xClose.map_or(ffi::SQLITE_OK, |close| close(inner));
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            closed
        }
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    unsafe {
        let held = (*file.cast::<File>()).held;
        if !held.is_null() && amount >= 0 {
            counts(file).received.fetch_add(1, Ordering::Relaxed);
            let held = &mut *held;
            let length = amount as usize;
            let bytes = std::slice::from_raw_parts(data.cast::<u8>(), length);
            let continues = offset == held.offset + held.bytes.len() as i64;
            if !continues || held.bytes.len() + length > HOLD_LIMIT {
                let rc = flush(file);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
            }
            if held.bytes.is_empty() {
                held.offset = offset;
            }
            held.bytes.extend_from_slice(bytes);
            return ffi::SQLITE_OK;
        }
        let (inner, methods) = inner(file);
        methods.xWrite.map_or(ffi::SQLITE_IOERR_WRITE, |write| {
            write(inner, data, amount, offset)
        })
    }
}

settled_method!(read, xRead, ffi::SQLITE_IOERR_READ, (buffer: *mut c_void, amount: c_int, offset: i64));
settled_method!(truncate, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, (size: i64));
settled_method!(sync, xSync, ffi::SQLITE_IOERR_FSYNC, (flags: c_int));
settled_method!(file_size, xFileSize, ffi::SQLITE_IOERR_FSTAT, (size: *mut i64));
settled_method!(lock, xLock, ffi::SQLITE_IOERR_LOCK, (level: c_int));
settled_method!(unlock, xUnlock, ffi::SQLITE_IOERR_UNLOCK, (level: c_int));
settled_method!(check_reserved_lock, xCheckReservedLock, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK, (out: *mut c_int));
settled_method!(file_control, xFileControl, ffi::SQLITE_NOTFOUND, (op: c_int, arg: *mut c_void));
settled_method!(shm_map, xShmMap, ffi::SQLITE_IOERR_SHMMAP, (region: c_int, size: c_int, extend: c_int, out: *mut *mut c_void));
settled_method!(shm_lock, xShmLock, ffi::SQLITE_IOERR_SHMLOCK, (offset: c_int, n: c_int, flags: c_int));
settled_method!(shm_unmap, xShmUnmap, ffi::SQLITE_OK, (delete: c_int));
passed_method!(sector_size, xSectorSize, 4096, () -> c_int);
passed_method!(device_characteristics, xDeviceCharacteristics, 0, () -> c_int);
passed_method!(unfetch, xUnfetch, ffi::SQLITE_OK, (offset: i64, page: *mut c_void) -> c_int);
// Not a point to hand the run over: it cannot report a failure, and SQLite calls it only
// between its writes to the WAL-index in shared memory, which are not writes to this file.
passed_method!(shm_barrier, xShmBarrier, (), () -> ());

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: as in `settled_method`; `out` is SQLite's to write.
    unsafe {
        // Without the wrapped file's mapping SQLite reads instead.
        *out = ptr::null_mut();
        match settled(file) {
            Err(rc) => rc,
            Ok((inner, methods)) => match methods.xFetch {
                Some(fetch) => fetch(inner, offset, amount, out),
                None => ffi::SQLITE_OK,
            },
        }
    }
}

// The VFS's own calls go to the wrapped VFS unchanged.

/// Defines `$name`, SQLite's `$method` of the VFS, as the wrapped VFS's `$method` (or
/// `$missing`).
macro_rules! vfs_method {
    ($name:ident, $method:ident, $missing:expr, ($($arg:ident: $type:ty),*) -> $out:ty) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs, $($arg: $type),*) -> $out {
            // SAFETY: SQLite calls these only on the VFS `register_as` made.
            unsafe {
                let wrapped = inner_vfs(vfs);
                match (*wrapped).$method {
                    Some(method) => method(wrapped, $($arg),*),
                    None => $missing,
                }
            }
        }
    };
}

/// A symbol's address as SQLite's xDlSym returns it.
type Symbol = unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char);

vfs_method!(delete, xDelete, ffi::SQLITE_IOERR_DELETE, (name: *const c_char, sync_dir: c_int) -> c_int);
vfs_method!(access, xAccess, ffi::SQLITE_IOERR_ACCESS, (name: *const c_char, flags: c_int, out: *mut c_int) -> c_int);
vfs_method!(full_pathname, xFullPathname, ffi::SQLITE_ERROR, (name: *const c_char, size: c_int, out: *mut c_char) -> c_int);
vfs_method!(dl_open, xDlOpen, ptr::null_mut(), (name: *const c_char) -> *mut c_void);
vfs_method!(dl_error, xDlError, (), (size: c_int, out: *mut c_char) -> ());
vfs_method!(dl_sym, xDlSym, None, (handle: *mut c_void, symbol: *const c_char) -> Option<Symbol>);
vfs_method!(dl_close, xDlClose, (), (handle: *mut c_void) -> ());
vfs_method!(randomness, xRandomness, 0, (size: c_int, out: *mut c_char) -> c_int);
vfs_method!(sleep, xSleep, 0, (microseconds: c_int) -> c_int);
vfs_method!(current_time, xCurrentTime, ffi::SQLITE_ERROR, (out: *mut f64) -> c_int);
vfs_method!(get_last_error, xGetLastError, 0, (size: c_int, out: *mut c_char) -> c_int);
vfs_method!(current_time_int64, xCurrentTimeInt64, ffi::SQLITE_ERROR, (out: *mut i64) -> c_int);

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rusqlite::{Connection, OpenFlags};

    use super::*;

    fn open_through(vfs: &CStr, path: &Path) -> Connection {
        let conn = Connection::open_with_flags_and_vfs(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            vfs.to_str().unwrap(),
        )
        .unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        // Frames stay in the WAL until a test checkpoints.
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .unwrap();
        conn
    }

    fn insert(conn: &Connection, keys: std::ops::Range<i64>) {
        let tx = conn.unchecked_transaction().unwrap();
        for k in keys {
            tx.execute("INSERT INTO t VALUES (?1, randomblob(1000))", [k])
                .unwrap();
        }
        tx.commit().unwrap();
    }

    /// The rows' count and their values' total length.
    fn content(conn: &Connection) -> (i64, i64) {
        conn.query_row("SELECT count(*), sum(length(v)) FROM t", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap()
    }

    #[test]
    fn the_name_is_the_one_registered() {
        assert_eq!(C_NAME.to_str(), Ok(NAME));
        register().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open_with_flags_and_vfs(
            dir.path().join("t.db"),
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            NAME,
        );
        assert!(conn.is_ok(), "{conn:?}");
    }

    #[test]
    fn a_connection_tells_its_vfs() {
        register().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ours = open_through(C_NAME, &dir.path().join("ours.db"));
        assert!(opened_through(&ours));
        let default = Connection::open(dir.path().join("default.db")).unwrap();
        assert!(!opened_through(&default));
    }

    #[test]
    fn a_commit_reaches_the_wal_in_one_write() {
        let counts = register_as(c"zaryad-wal-test-commit").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let conn = open_through(c"zaryad-wal-test-commit", &dir.path().join("t.db"));
        let received = counts.received();
        let handed_over = counts.handed_over();

        // 100 rows of 1,000 bytes: about 25 pages, each written as a header and a page, and
        // less than one write can take.
        insert(&conn, 0..100);

        let received = counts.received() - received;
        assert!(received >= 50, "{received} writes");
        assert_eq!(counts.handed_over() - handed_over, 1);
    }

    #[test]
    fn a_checkpoint_writes_runs_of_pages() {
        let counts = register_as(c"zaryad-wal-test-checkpoint").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let conn = open_through(c"zaryad-wal-test-checkpoint", &dir.path().join("t.db"));
        insert(&conn, 0..1_000);
        let received = counts.received();
        let handed_over = counts.handed_over();

        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();

        // About 250 new pages, one after another at the database's end.
        let received = counts.received() - received;
        let handed_over = counts.handed_over() - handed_over;
        assert!(received >= 200, "{received} writes");
        assert!(handed_over <= received / 20, "{handed_over} of {received}");
    }

    #[test]
    fn the_files_hold_what_sqlite_wrote() {
        const ROWS: i64 = 6_000;
        register_as(c"zaryad-wal-test-content").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open_through(c"zaryad-wal-test-content", &path);
        // A small cache makes the large transactions spill frames to the WAL before their
        // commit and read them back; 6 MB in one commit is more than one write takes and more
        // than a run holds.
        conn.pragma_update(None, "cache_size", 10).unwrap();
        insert(&conn, 0..50);
        insert(&conn, 50..ROWS);
        // The second update reads back the pages the first spilled, frames still held.
        conn.execute_batch(
            "BEGIN;
             UPDATE t SET v = randomblob(900) WHERE k % 3 = 0;
             UPDATE t SET v = substr(v, 1, 700) WHERE k % 3 = 0;
             COMMIT;",
        )
        .unwrap();
        conn.execute("DELETE FROM t WHERE k % 7 = 0", []).unwrap();
        let kept = (0..ROWS).filter(|k| k % 7 != 0);
        let expected = (
            kept.clone().count() as i64,
            kept.map(|k| if k % 3 == 0 { 700 } else { 1_000 }).sum(),
        );
        assert_eq!(content(&conn), expected);

        // Another connection, through the default VFS, sees every commit.
        assert_eq!(content(&Connection::open(&path).unwrap()), expected);

        // A copy of the database and its WAL taken while the writer is open, as a crash
        // leaves them: opening it replays the WAL, checking every frame's checksum, and
        // drops everything from the first frame that does not match.
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(&path, copy.path().join("t.db")).unwrap();
        std::fs::copy(dir.path().join("t.db-wal"), copy.path().join("t.db-wal")).unwrap();
        let recovered = Connection::open(copy.path().join("t.db")).unwrap();
        assert_eq!(content(&recovered), expected);
        let check: String = recovered
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");

        // A checkpoint reads the frames back and writes the pages to the database, which
        // then holds everything alone.
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("t.db-wal"))
                .unwrap()
                .len(),
            0
        );
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(&path, copy.path().join("t.db")).unwrap();
        let checkpointed = Connection::open(copy.path().join("t.db")).unwrap();
        assert_eq!(content(&checkpointed), expected);
        drop(conn);
        assert_eq!(content(&Connection::open(&path).unwrap()), expected);
    }
}
