//! The few bpf(2) commands the runtime issues itself, because aya's typed maps want
//! Rust types where the compiler hands us bytes: element update/lookup/delete with
//! raw keys and values, and creating the plain array map that holds the manifest.
//!
//! Invariant: every `bpf_attr` is the union from aya-obj's generated kernel bindings,
//! zeroed before use, so the layout is the kernel's, never one typed in here.

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_map_type};

fn sys_bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<i64> {
    // SAFETY: attr is a valid, fully initialised bpf_attr for `cmd`; every pointer in
    // it refers to memory that outlives the call and has the size the kernel reads.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut bpf_attr,
            std::mem::size_of::<bpf_attr>() as libc::c_long,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn zeroed() -> bpf_attr {
    // SAFETY: bpf_attr is a plain C union of integers; all-zero is its documented
    // "unused fields" state.
    unsafe { std::mem::zeroed() }
}

fn zeroed_create() -> aya_obj::generated::bpf_attr__bindgen_ty_1 {
    // SAFETY: a plain C struct of integers and arrays; all-zero means "unused".
    unsafe { std::mem::zeroed() }
}

/// `BPF_MAP_UPDATE_ELEM` (`flags`: `BPF_ANY` = 0, `BPF_NOEXIST`, `BPF_EXIST`).
pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
    let mut attr = zeroed();
    // Writing union fields is safe; the kernel reads the element-command member.
    attr.__bindgen_anon_2.map_fd = map.as_raw_fd() as u32;
    attr.__bindgen_anon_2.key = key.as_ptr() as u64;
    attr.__bindgen_anon_2.__bindgen_anon_1.value = value.as_ptr() as u64;
    attr.__bindgen_anon_2.flags = flags;
    sys_bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
}

/// `BPF_MAP_DELETE_ELEM`; a missing key is not an error.
pub fn map_delete(map: BorrowedFd<'_>, key: &[u8]) -> io::Result<()> {
    let mut attr = zeroed();
    attr.__bindgen_anon_2.map_fd = map.as_raw_fd() as u32;
    attr.__bindgen_anon_2.key = key.as_ptr() as u64;
    match sys_bpf(bpf_cmd::BPF_MAP_DELETE_ELEM, &mut attr) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r.map(|_| ()),
    }
}

/// `BPF_MAP_LOOKUP_ELEM` into a buffer of `value_len` bytes; `None` when absent.
pub fn map_lookup(
    map: BorrowedFd<'_>,
    key: &[u8],
    value_len: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut value = vec![0u8; value_len];
    let mut attr = zeroed();
    // value has value_len bytes, the map's value size.
    attr.__bindgen_anon_2.map_fd = map.as_raw_fd() as u32;
    attr.__bindgen_anon_2.key = key.as_ptr() as u64;
    attr.__bindgen_anon_2.__bindgen_anon_1.value = value.as_mut_ptr() as u64;
    match sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(Some(value)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_CREATE` of a `BPF_MAP_TYPE_ARRAY` with `u32` keys.
pub fn create_array(name: &str, value_size: u32, max_entries: u32) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    let mut create = aya_obj::generated::bpf_attr__bindgen_ty_1 {
        map_type: bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        key_size: 4,
        value_size,
        max_entries,
        ..zeroed_create()
    };
    // At most 15 bytes, so the name stays NUL-terminated.
    for (dst, src) in create.map_name.iter_mut().zip(name.bytes().take(15)) {
        *dst = src as libc::c_char;
    }
    attr.__bindgen_anon_1 = create;
    let fd = sys_bpf(bpf_cmd::BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: BPF_MAP_CREATE returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_OBJ_GET`: opens a pinned object.
pub fn obj_get(path: &std::path::Path) -> io::Result<OwnedFd> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut attr = zeroed();
    attr.__bindgen_anon_4.pathname = c.as_ptr() as u64;
    let fd = sys_bpf(bpf_cmd::BPF_OBJ_GET, &mut attr)?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_LINK_DETACH`: takes the link's hook off now, whoever else holds the link.
pub fn link_detach(link: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = zeroed();
    attr.link_detach.link_fd = link.as_raw_fd() as u32;
    sys_bpf(bpf_cmd::BPF_LINK_DETACH, &mut attr).map(|_| ())
}

/// `BPF_LINK_UPDATE`: the link runs `new_prog` from now on, atomically (a packet runs
/// the old program or the new one). With `old_prog`, the kernel swaps only if the
/// link still runs that program (`BPF_F_REPLACE`), and fails with `EPERM` otherwise.
pub fn link_update(
    link: BorrowedFd<'_>,
    new_prog: BorrowedFd<'_>,
    old_prog: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut attr = zeroed();
    attr.link_update.link_fd = link.as_raw_fd() as u32;
    attr.link_update.__bindgen_anon_1.new_prog_fd = new_prog.as_raw_fd() as u32;
    if let Some(old) = old_prog {
        attr.link_update.flags = aya_obj::generated::BPF_F_REPLACE;
        attr.link_update.__bindgen_anon_2.old_prog_fd = old.as_raw_fd() as u32;
    }
    sys_bpf(bpf_cmd::BPF_LINK_UPDATE, &mut attr).map(|_| ())
}

/// A shared writable mapping of a `BPF_F_MMAPABLE` array map's values (the kernel
/// lays them out `round_up(value_size, 8)` bytes apart); unmapped on drop.
pub struct MapMemory {
    ptr: *mut u8,
    len: usize,
}

impl MapMemory {
    /// Maps the first `len` bytes of the map's value area.
    pub fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<MapMemory> {
        let len = len.max(1);
        // SAFETY: a fresh shared mapping of the map's value area (the kernel checks the
        // length against the map); only this value touches it, inside `len`, until
        // drop unmaps it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(MapMemory {
            ptr: ptr.cast(),
            len,
        })
    }

    /// The mapped bytes. Programs may read them at any time; writers use
    /// [`MapMemory::store_u32`] where a reader must see a whole word.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: ptr/len are a live mapping owned by self; the kernel's readers never
        // write to it, so no other Rust reference aliases it.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Stores an aligned `u32` at byte `offset` as one atomic write, after every write
    /// before it (release order), so a program that reads the new word also sees what
    /// was written before it.
    pub fn store_u32(&mut self, offset: usize, value: u32) {
        assert!(offset.is_multiple_of(4) && offset + 4 <= self.len);
        // SAFETY: in bounds and 4-byte aligned (mmap returns page-aligned memory);
        // AtomicU32 has the layout of u32.
        let word = unsafe { &*(self.ptr.add(offset) as *const std::sync::atomic::AtomicU32) };
        word.store(value, std::sync::atomic::Ordering::Release);
    }

    /// Reads an aligned `u32` at byte `offset` as one atomic read.
    pub fn load_u32(&self, offset: usize) -> u32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= self.len);
        // SAFETY: as in store_u32.
        let word = unsafe { &*(self.ptr.add(offset) as *const std::sync::atomic::AtomicU32) };
        word.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Drop for MapMemory {
    fn drop(&mut self) {
        // SAFETY: ptr/len are the mapping created in `map`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}
