//! The bpf(2) commands the runtime issues itself, because aya's typed maps want Rust
//! types where the compiler hands us bytes, and because aya's loader parses the
//! kernel's whole BTF first: element update/lookup/delete with raw keys and values,
//! reading a whole map in one batch, creating maps (an object's, and the plain array
//! that holds the manifest), loading programs, links and test runs.
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

/// `BPF_MAP_FREEZE`: no later write to the map `map` from user space succeeds (its
/// programs' writes are refused by `BPF_F_RDONLY_PROG`, a flag of its creation).
pub fn map_freeze(map: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = zeroed();
    attr.__bindgen_anon_2.map_fd = map.as_raw_fd() as u32;
    sys_bpf(bpf_cmd::BPF_MAP_FREEZE, &mut attr).map(|_| ())
}

/// Whether the map `map` is frozen ([`map_freeze`]), as the kernel shows it in
/// `/proc/self/fdinfo` (a read: nothing is written to find out). No `frozen:` line
/// (a kernel before 5.2, which has no freeze) is `false`.
pub fn map_frozen(map: BorrowedFd<'_>) -> io::Result<bool> {
    let text = read_proc_text(&format!("/proc/self/fdinfo/{}", map.as_raw_fd()))?;
    Ok(text.split(|&b| b == b'\n').any(|l| {
        l.strip_prefix(b"frozen:")
            .is_some_and(|v| v.trim_ascii() == b"1")
    }))
}

/// The bytes of a small `/proc` file, read a page at a time until its end: a `/proc`
/// file says it is empty, and `read_to_string` asked its size (`statx`) and then read
/// it 32, 32, 64 and 128 bytes at a time.
fn read_proc_text(path: &str) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut text = Vec::new();
    let mut page = [0u8; 4096];
    loop {
        match file.read(&mut page) {
            Ok(0) => return Ok(text),
            Ok(n) => text.extend_from_slice(&page[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
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

/// `BPF_MAP_UPDATE_BATCH` (`BPF_ANY`) of `keys.len() / key_len` elements whose keys
/// and values lie back to back in `keys` and `values`. `Ok(n)` once all `n` are
/// written; on an error, how many were written before the element that failed, and
/// the error. One syscall writes what one update per element would.
pub fn map_update_batch(
    map: BorrowedFd<'_>,
    keys: &[u8],
    values: &[u8],
    key_len: usize,
) -> Result<usize, (usize, io::Error)> {
    let count = keys.len() / key_len;
    let mut attr = zeroed();
    attr.batch.keys = keys.as_ptr() as u64;
    attr.batch.values = values.as_ptr() as u64;
    attr.batch.count = count as u32;
    attr.batch.map_fd = map.as_raw_fd() as u32;
    let result = sys_bpf(bpf_cmd::BPF_MAP_UPDATE_BATCH, &mut attr);
    // SAFETY: reading back the count the kernel wrote into the same member.
    let done = unsafe { attr.batch.count } as usize;
    result.map(|_| count).map_err(|e| (done, e))
}

/// `BPF_MAP_DELETE_BATCH` of the `keys.len() / key_len` keys back to back in `keys`;
/// as [`map_update_batch`], how many were deleted before an error. The kernel stops
/// at a key that is absent (`ENOENT`): the caller decides whether that is an error.
pub fn map_delete_batch(
    map: BorrowedFd<'_>,
    keys: &[u8],
    key_len: usize,
) -> Result<usize, (usize, io::Error)> {
    let count = keys.len() / key_len;
    let mut attr = zeroed();
    attr.batch.keys = keys.as_ptr() as u64;
    attr.batch.count = count as u32;
    attr.batch.map_fd = map.as_raw_fd() as u32;
    let result = sys_bpf(bpf_cmd::BPF_MAP_DELETE_BATCH, &mut attr);
    // SAFETY: as in map_update_batch.
    let done = unsafe { attr.batch.count } as usize;
    result.map(|_| count).map_err(|e| (done, e))
}

/// The errors a map kind without batch operations answers a batch command with
/// (`ENOTSUPP`, the kernel's 524, as much as `EOPNOTSUPP`; `EINVAL` from kernels
/// older than batch commands).
pub fn batch_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(524) | Some(libc::EINVAL)
    )
}

/// `BPF_MAP_LOOKUP_ELEM` into a buffer of `value_len` bytes; `None` when absent.
pub fn map_lookup(
    map: BorrowedFd<'_>,
    key: &[u8],
    value_len: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut value = vec![0u8; value_len];
    Ok(map_lookup_into(map, key, &mut value)?.then_some(value))
}

/// [`map_lookup`] into `value`, which must be the map's value size: whether the key
/// is there.
pub fn map_lookup_into(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = zeroed();
    attr.__bindgen_anon_2.map_fd = map.as_raw_fd() as u32;
    attr.__bindgen_anon_2.key = key.as_ptr() as u64;
    attr.__bindgen_anon_2.__bindgen_anon_1.value = value.as_mut_ptr() as u64;
    match sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first key for `None`), `None`
/// at the end. `key_len` is the map's key size.
pub fn map_next_key(
    map: BorrowedFd<'_>,
    key: Option<&[u8]>,
    key_len: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut next = vec![0u8; key_len];
    let mut attr = zeroed();
    attr.__bindgen_anon_2.map_fd = map.as_raw_fd() as u32;
    attr.__bindgen_anon_2.key = key.map_or(0, |k| k.as_ptr() as u64);
    attr.__bindgen_anon_2.__bindgen_anon_1.next_key = next.as_mut_ptr() as u64;
    match sys_bpf(bpf_cmd::BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(_) => Ok(Some(next)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_CREATE` of a `BPF_MAP_TYPE_ARRAY` with `u32` keys.
pub fn create_array(name: &str, value_size: u32, max_entries: u32) -> io::Result<OwnedFd> {
    create_map(
        bpf_map_type::BPF_MAP_TYPE_ARRAY,
        name,
        4,
        value_size,
        max_entries,
    )
}

/// `BPF_MAP_CREATE` without BTF or flags.
pub fn create_map(
    map_type: bpf_map_type,
    name: &str,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
) -> io::Result<OwnedFd> {
    create_map_with_flags(map_type as u32, name, key_size, value_size, max_entries, 0)
}

/// The BTF a map is described with: the loaded BTF object and the type ids of its
/// key and value in it.
#[derive(Clone, Copy, Debug)]
pub struct MapBtf<'a> {
    pub btf: BorrowedFd<'a>,
    pub key_type_id: u32,
    pub value_type_id: u32,
}

/// `BPF_MAP_CREATE` with `BPF_F_*` map flags (`BPF_F_MMAPABLE`, `BPF_F_NO_PREALLOC`)
/// and, for the map types the kernel wants it for (socket storage), BTF: the maps of
/// a loaded object.
pub fn create_map_with_flags(
    map_type: u32,
    name: &str,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
) -> io::Result<OwnedFd> {
    create_map_described(
        map_type,
        name,
        key_size,
        value_size,
        max_entries,
        map_flags,
        None,
    )
}

/// [`create_map_with_flags`] with the map's BTF.
pub fn create_map_described(
    map_type: u32,
    name: &str,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    btf: Option<MapBtf<'_>>,
) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    let mut create = aya_obj::generated::bpf_attr__bindgen_ty_1 {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags,
        ..zeroed_create()
    };
    if let Some(b) = btf {
        create.btf_fd = b.btf.as_raw_fd() as u32;
        create.btf_key_type_id = b.key_type_id;
        create.btf_value_type_id = b.value_type_id;
    }
    // At most 15 bytes, so the name stays NUL-terminated.
    for (dst, src) in create.map_name.iter_mut().zip(name.bytes().take(15)) {
        *dst = src as libc::c_char;
    }
    attr.__bindgen_anon_1 = create;
    let fd = sys_bpf(bpf_cmd::BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: BPF_MAP_CREATE returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_BTF_LOAD` of raw BTF (a `.BTF` section), without a log.
pub fn btf_load(btf: &[u8]) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    // SAFETY: writing plain integers into the BTF-load member of the union.
    let load = unsafe { &mut attr.__bindgen_anon_7 };
    load.btf = btf.as_ptr() as u64;
    load.btf_size = btf.len() as u32;
    let fd = sys_bpf(bpf_cmd::BPF_BTF_LOAD, &mut attr)?;
    // SAFETY: BPF_BTF_LOAD returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_OBJ_PIN`: pins `fd` at `path`.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &std::path::Path) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut attr = zeroed();
    attr.__bindgen_anon_4.pathname = c.as_ptr() as u64;
    attr.__bindgen_anon_4.bpf_fd = fd.as_raw_fd() as u32;
    sys_bpf(bpf_cmd::BPF_OBJ_PIN, &mut attr).map(|_| ())
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
        MapMemory::map_at(fd, 0, len)
    }

    /// Maps `len` bytes of the map's value area from byte `offset`, a multiple of the
    /// page size (the kernel maps whole pages: `array_map_mmap` takes the offset in
    /// pages).
    pub fn map_at(fd: BorrowedFd<'_>, offset: usize, len: usize) -> io::Result<MapMemory> {
        // Only this value touches the mapping, inside `len`, until drop unmaps it.
        let (ptr, len) = map_values(fd, offset, len, libc::PROT_READ | libc::PROT_WRITE)?;
        Ok(MapMemory { ptr, len })
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

/// A fresh shared mapping (`prot`) of `len` bytes (at least one) of the value area of
/// the `BPF_F_MMAPABLE` array map behind `fd`, from byte `offset`, a multiple of the
/// page size (the kernel maps whole pages: `array_map_mmap` takes the offset in pages,
/// and checks the length against the map): its address and length, for a value that
/// unmaps it on drop.
fn map_values(
    fd: BorrowedFd<'_>,
    offset: usize,
    len: usize,
    prot: libc::c_int,
) -> io::Result<(*mut u8, usize)> {
    let offset = libc::off_t::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
    let len = len.max(1);
    // SAFETY: a new mapping at an address the kernel chooses; it aliases no Rust
    // memory, and its owner unmaps it.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            offset,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok((ptr.cast(), len))
}

/// A read-only shared mapping of the first bytes of a `BPF_F_MMAPABLE` array map's
/// values, of a map nothing writes any more (frozen, read-only to programs): its
/// pages are the kernel's own, so reading it copies nothing and allocates nothing
/// (`array_map_mmap` inserts every page as it maps). Unmapped on drop.
pub struct MapView {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is read-only and what it maps never changes (`MapView::map`'s
// contract), so shared and moved references to it are as safe as to a `&[u8]`.
unsafe impl Send for MapView {}
unsafe impl Sync for MapView {}

impl MapView {
    /// Maps the first `len` bytes of the value area of the map behind `fd`, read-only.
    ///
    /// # Safety
    /// Nothing may write the map's values while the view lives: the map must be
    /// frozen (no writes from user space) and `BPF_F_RDONLY_PROG` (none from programs).
    pub unsafe fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<MapView> {
        let (ptr, len) = map_values(fd, 0, len, libc::PROT_READ)?;
        Ok(MapView { ptr, len })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: ptr/len are a live read-only mapping owned by self whose contents
        // never change (the contract of `map`).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for MapView {
    fn drop(&mut self) {
        // SAFETY: ptr/len are the mapping created in `map`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// `BPF_MAP_LOOKUP_BATCH` over a whole array map of `entries` elements with 4-byte
/// keys: the values in key order, `value_len` bytes each (for a per-CPU map,
/// `round_up(value_size, 8)` times the number of possible CPUs). One syscall reads
/// what one lookup per element would (100,000 counters: 1 call instead of 100,000).
pub fn map_lookup_batch(
    map: BorrowedFd<'_>,
    entries: u32,
    value_len: usize,
) -> io::Result<Vec<u8>> {
    let count = entries as usize;
    let mut keys = vec![0u32; count];
    let mut values = vec![0u8; count * value_len];
    let mut token = 0u32;
    let mut done = 0usize;
    let mut first = true;
    while done < count {
        let mut attr = zeroed();
        let in_token = token;
        // The batch member: in/out tokens of the key's size, key and value buffers
        // with room for `count - done` more elements.
        attr.batch.in_batch = if first {
            0
        } else {
            &in_token as *const u32 as u64
        };
        attr.batch.out_batch = &mut token as *mut u32 as u64;
        attr.batch.keys = keys[done..].as_mut_ptr() as u64;
        attr.batch.values = values[done * value_len..].as_mut_ptr() as u64;
        attr.batch.count = (count - done) as u32;
        attr.batch.map_fd = map.as_raw_fd() as u32;
        let result = sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_BATCH, &mut attr);
        // SAFETY: reading back the count the kernel wrote into the same member.
        let got = unsafe { attr.batch.count } as usize;
        done += got;
        first = false;
        match result {
            Ok(_) if got > 0 => {}
            // ENOENT: no more elements after these.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Ok(_) => break,
            Err(e) => return Err(e),
        }
    }
    if done != count || keys.iter().enumerate().any(|(i, &k)| k as usize != i) {
        return Err(io::Error::other(format!(
            "batch lookup returned {done} of {count} elements, or out of order"
        )));
    }
    Ok(values)
}

/// Every (key, value) of a map with `key_len`-byte keys and `value_len`-byte values,
/// read with `BPF_MAP_LOOKUP_BATCH` a chunk of `chunk` elements per syscall, keys and
/// values back to back in the map's iteration order. `Err` with the kernel's answer
/// when the map kind has no batch lookup (see [`batch_unsupported`]).
pub fn map_dump(
    map: BorrowedFd<'_>,
    key_len: usize,
    value_len: usize,
    chunk: usize,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    // The position token: a key for most map kinds, a bucket index (u32) for hashes.
    let token_len = key_len.max(8);
    let (mut in_token, mut out_token) = (vec![0u8; token_len], vec![0u8; token_len]);
    let mut first = true;
    loop {
        let done = keys.len() / key_len.max(1);
        keys.resize((done + chunk) * key_len, 0);
        values.resize((done + chunk) * value_len, 0);
        let mut attr = zeroed();
        // keys/values have room for `chunk` more elements; tokens are token_len bytes.
        attr.batch.in_batch = if first { 0 } else { in_token.as_ptr() as u64 };
        attr.batch.out_batch = out_token.as_mut_ptr() as u64;
        attr.batch.keys = keys[done * key_len..].as_mut_ptr() as u64;
        attr.batch.values = values[done * value_len..].as_mut_ptr() as u64;
        attr.batch.count = chunk as u32;
        attr.batch.map_fd = map.as_raw_fd() as u32;
        let result = sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_BATCH, &mut attr);
        // SAFETY: reading back the count the kernel wrote into the same member.
        let got = unsafe { attr.batch.count } as usize;
        keys.truncate((done + got) * key_len);
        values.truncate((done + got) * value_len);
        first = false;
        match result {
            Ok(_) if got > 0 => in_token.copy_from_slice(&out_token),
            // ENOENT: no more elements after these.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Ok(_) => break,
            Err(e) => return Err(e),
        }
    }
    Ok((keys, values))
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a link: its type, program, and attach target.
pub fn link_info(link: BorrowedFd<'_>) -> io::Result<aya_obj::generated::bpf_link_info> {
    // SAFETY: a plain C struct (with unions) of integers; all-zero is a valid value.
    let mut info: aya_obj::generated::bpf_link_info = unsafe { std::mem::zeroed() };
    let mut attr = zeroed();
    attr.info.bpf_fd = link.as_raw_fd() as u32;
    attr.info.info_len = std::mem::size_of_val(&info) as u32;
    attr.info.info = &mut info as *mut _ as u64;
    sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a map: its id, value size and number of elements.
pub fn map_info(map: BorrowedFd<'_>) -> io::Result<aya_obj::generated::bpf_map_info> {
    // SAFETY: a plain C struct of integers; all-zero is a valid value.
    let mut info: aya_obj::generated::bpf_map_info = unsafe { std::mem::zeroed() };
    let mut attr = zeroed();
    attr.info.bpf_fd = map.as_raw_fd() as u32;
    attr.info.info_len = std::mem::size_of_val(&info) as u32;
    attr.info.info = &mut info as *mut _ as u64;
    sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info)
}

/// A map's id ([`map_info`]).
pub fn map_id(map: BorrowedFd<'_>) -> io::Result<u32> {
    map_info(map).map(|i| i.id)
}

// ---- socket maps and cgroups (sockmap) ------------------------------------------------

/// `BPF_LINK_CREATE` of program `prog` on `target` (a cgroup directory's fd) for
/// `attach_type`; the link is the new descriptor.
pub fn link_create(
    prog: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    attr.link_create.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
    attr.link_create.__bindgen_anon_2.target_fd = target.as_raw_fd() as u32;
    attr.link_create.attach_type = attach_type;
    let fd = sys_bpf(bpf_cmd::BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_LINK_CREATE` of program `prog` on interface `ifindex` for `attach_type`:
/// `BPF_XDP` with its mode in `flags` (`XDP_FLAGS_DRV_MODE`, `XDP_FLAGS_SKB_MODE`), or
/// `BPF_TCX_INGRESS` / `BPF_TCX_EGRESS` with no flags (after the programs already
/// there). The link is the new descriptor.
pub fn link_create_on_interface(
    prog: BorrowedFd<'_>,
    ifindex: u32,
    attach_type: u32,
    flags: u32,
) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    attr.link_create.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
    attr.link_create.__bindgen_anon_2.target_ifindex = ifindex;
    attr.link_create.attach_type = attach_type;
    attr.link_create.flags = flags;
    let fd = sys_bpf(bpf_cmd::BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_PROG_ATTACH` of `prog` to `target` (a socket map's fd) for `attach_type`. On a
/// socket map this replaces the map's program of that type in one step.
pub fn prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    let mut attr = zeroed();
    attr.__bindgen_anon_5.__bindgen_anon_1.target_fd = target.as_raw_fd() as u32;
    attr.__bindgen_anon_5.attach_bpf_fd = prog.as_raw_fd() as u32;
    attr.__bindgen_anon_5.attach_type = attach_type;
    sys_bpf(bpf_cmd::BPF_PROG_ATTACH, &mut attr).map(|_| ())
}

/// `BPF_PROG_DETACH` of `prog` from `target` for `attach_type`.
pub fn prog_detach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    let mut attr = zeroed();
    attr.__bindgen_anon_5.__bindgen_anon_1.target_fd = target.as_raw_fd() as u32;
    attr.__bindgen_anon_5.attach_bpf_fd = prog.as_raw_fd() as u32;
    attr.__bindgen_anon_5.attach_type = attach_type;
    sys_bpf(bpf_cmd::BPF_PROG_DETACH, &mut attr).map(|_| ())
}

/// `BPF_PROG_QUERY`: the ids of the programs attached to `target` for `attach_type`
/// (with `effective`, for a cgroup, also those its ancestors' attachments run).
pub fn prog_query(
    target: BorrowedFd<'_>,
    attach_type: u32,
    effective: bool,
) -> io::Result<Vec<u32>> {
    let flags = if effective {
        aya_obj::generated::BPF_F_QUERY_EFFECTIVE
    } else {
        0
    };
    query(target, attach_type, flags).map(|(_, ids)| ids)
}

/// `BPF_PROG_QUERY` of the programs attached to the cgroup `target` itself for
/// `attach_type`, with the flags they were attached with (`BPF_F_ALLOW_OVERRIDE`,
/// `BPF_F_ALLOW_MULTI`, or 0 for an exclusive attachment; links count as multi).
pub fn prog_query_flags(target: BorrowedFd<'_>, attach_type: u32) -> io::Result<(u32, Vec<u32>)> {
    query(target, attach_type, 0)
}

/// `BPF_PROG_QUERY` with `query_flags`: the attach flags and the program ids.
fn query(
    target: BorrowedFd<'_>,
    attach_type: u32,
    query_flags: u32,
) -> io::Result<(u32, Vec<u32>)> {
    let mut ids = vec![0u32; 64];
    let mut attr = zeroed();
    attr.query.__bindgen_anon_1.target_fd = target.as_raw_fd() as u32;
    attr.query.attach_type = attach_type;
    attr.query.query_flags = query_flags;
    attr.query.prog_ids = ids.as_mut_ptr() as u64;
    attr.query.__bindgen_anon_2.prog_cnt = ids.len() as u32;
    sys_bpf(bpf_cmd::BPF_PROG_QUERY, &mut attr)?;
    // SAFETY: the kernel wrote the count back into the member it read.
    let n = unsafe { attr.query.__bindgen_anon_2.prog_cnt } as usize;
    ids.truncate(n.min(ids.len()));
    // SAFETY: the query member, which the kernel filled in.
    let attach_flags = unsafe { attr.query.attach_flags };
    Ok((attach_flags, ids))
}

/// The parent directory of the open directory `dir` (`openat(dir, "..")`): the same
/// directory at the top of a mount's tree; a mount point's parent on the file system
/// it is mounted on when `dir` is a mount's top.
pub fn open_parent(dir: BorrowedFd<'_>) -> io::Result<std::fs::File> {
    // SAFETY: a NUL-terminated path and a descriptor that lives through the call.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c"..".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    attr.__bindgen_anon_6.__bindgen_anon_1.prog_id = id;
    let fd = sys_bpf(bpf_cmd::BPF_PROG_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_LINK_GET_NEXT_ID`: the id of the first BPF link after `start` (in every
/// namespace: link ids are the kernel's), `None` past the last.
pub fn link_next_id(start: u32) -> io::Result<Option<u32>> {
    let mut attr = zeroed();
    attr.__bindgen_anon_6.__bindgen_anon_1.start_id = start;
    match sys_bpf(bpf_cmd::BPF_LINK_GET_NEXT_ID, &mut attr) {
        // SAFETY: the kernel wrote the next id into the union it was given.
        Ok(_) => Ok(Some(unsafe { attr.__bindgen_anon_6.next_id })),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `BPF_LINK_GET_FD_BY_ID`: a descriptor of link `id` (to read its info).
pub fn link_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    attr.__bindgen_anon_6.__bindgen_anon_1.link_id = id;
    let fd = sys_bpf(bpf_cmd::BPF_LINK_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// What [`prog_info`] reads of a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgInfo {
    pub id: u32,
    pub name: String,
    pub map_ids: Vec<u32>,
    /// The program's tag (a hash of its instructions), as `bpftool` prints it.
    pub tag: u64,
    /// Instructions after the verifier's rewrites (`xlated_prog_len / 8`).
    pub xlated_insns: u32,
    /// Instructions the verifier walked.
    pub verified_insns: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a program: its id, name, tag, sizes and the maps it
/// uses.
pub fn prog_info(prog: BorrowedFd<'_>) -> io::Result<ProgInfo> {
    let mut map_ids = vec![0u32; 64];
    // SAFETY: a plain C struct of integers; all-zero is a valid value.
    let mut info: aya_obj::generated::bpf_prog_info = unsafe { std::mem::zeroed() };
    info.nr_map_ids = map_ids.len() as u32;
    info.map_ids = map_ids.as_mut_ptr() as u64;
    let mut attr = zeroed();
    attr.info.bpf_fd = prog.as_raw_fd() as u32;
    attr.info.info_len = std::mem::size_of_val(&info) as u32;
    attr.info.info = &mut info as *mut _ as u64;
    sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    map_ids.truncate((info.nr_map_ids as usize).min(map_ids.len()));
    let name: Vec<u8> = info
        .name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    Ok(ProgInfo {
        id: info.id,
        name: String::from_utf8_lossy(&name).into_owned(),
        map_ids,
        tag: u64::from_be_bytes(info.tag),
        xlated_insns: info.xlated_prog_len / 8,
        verified_insns: info.verified_insns,
    })
}

/// What [`prog_test_run_ctx`] reports.
#[derive(Clone, Copy, Debug)]
pub struct CtxRun {
    pub retval: u32,
    /// Nanoseconds per run, measured by the kernel.
    pub duration_ns: u32,
}

/// `BPF_PROG_TEST_RUN` with a context and no packet (sk_lookup): the kernel builds the
/// program's context from `ctx_in` and writes it back to `ctx_out` after the run
/// (for sk_lookup, with the cookie of the socket the program selected).
pub fn prog_test_run_ctx(
    prog: BorrowedFd<'_>,
    ctx_in: &[u8],
    ctx_out: &mut [u8],
    repeat: u32,
) -> io::Result<CtxRun> {
    test_run(prog, &[], ctx_in, ctx_out, repeat).map(|(run, _)| run)
}

/// `BPF_PROG_TEST_RUN` of `prog` on `data` (may be empty) and `ctx_in`, the context
/// written back to `ctx_out` (may be empty); returns the run and how many bytes of
/// packet data the kernel wrote to `data_out` (none when it is empty).
fn test_run(
    prog: BorrowedFd<'_>,
    data: &[u8],
    ctx_in: &[u8],
    ctx_out: &mut [u8],
    repeat: u32,
) -> io::Result<(CtxRun, usize)> {
    test_run_out(prog, data, ctx_in, ctx_out, &mut [], repeat)
}

/// [`test_run`] with the packet as the program left it copied to `data_out` (cut
/// to its length: the kernel fails with `ENOSPC` after copying what fits).
fn test_run_out(
    prog: BorrowedFd<'_>,
    data: &[u8],
    ctx_in: &[u8],
    ctx_out: &mut [u8],
    data_out: &mut [u8],
    repeat: u32,
) -> io::Result<(CtxRun, usize)> {
    let mut attr = zeroed();
    attr.test.prog_fd = prog.as_raw_fd() as u32;
    if !data.is_empty() {
        attr.test.data_in = data.as_ptr() as u64;
        attr.test.data_size_in = data.len() as u32;
    }
    if !data_out.is_empty() {
        attr.test.data_out = data_out.as_mut_ptr() as u64;
        attr.test.data_size_out = data_out.len() as u32;
    }
    // No context at all when none is given: XDP checks a given one against the frame.
    if !ctx_in.is_empty() {
        attr.test.ctx_in = ctx_in.as_ptr() as u64;
        attr.test.ctx_size_in = ctx_in.len() as u32;
    }
    if !ctx_out.is_empty() {
        attr.test.ctx_out = ctx_out.as_mut_ptr() as u64;
        attr.test.ctx_size_out = ctx_out.len() as u32;
    }
    attr.test.repeat = repeat;
    sys_bpf(bpf_cmd::BPF_PROG_TEST_RUN, &mut attr)?;
    // SAFETY: reading the member the kernel wrote back.
    let t = unsafe { attr.test };
    let run = CtxRun {
        retval: t.retval,
        duration_ns: t.duration,
    };
    Ok((run, (t.data_size_out as usize).min(data_out.len())))
}

// ---- loading programs ----------------------------------------------------------------

/// What [`prog_load`] loads: `insns` are the program's instructions as the object
/// stores them (8 bytes each), relocated; `license` ends with a NUL.
pub struct ProgLoad<'a> {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    pub name: &'a str,
    pub insns: &'a [u8],
    pub license: &'a [u8],
    /// Where the verifier writes its log (empty: no log).
    pub log: &'a mut [u8],
}

/// `BPF_PROG_LOAD`: the program through the verifier; the program is the new
/// descriptor.
pub fn prog_load(p: &mut ProgLoad<'_>) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    // SAFETY: writing plain integers into the program-load member of the union.
    let load = unsafe { &mut attr.__bindgen_anon_3 };
    load.prog_type = p.prog_type;
    load.expected_attach_type = p.expected_attach_type;
    load.insn_cnt = (p.insns.len() / 8) as u32;
    load.insns = p.insns.as_ptr() as u64;
    load.license = p.license.as_ptr() as u64;
    if !p.log.is_empty() {
        load.log_level = 1;
        load.log_size = p.log.len() as u32;
        load.log_buf = p.log.as_mut_ptr() as u64;
    }
    // At most 15 bytes, so the name stays NUL-terminated.
    for (dst, src) in load.prog_name.iter_mut().zip(p.name.bytes().take(15)) {
        *dst = src as libc::c_char;
    }
    let fd = sys_bpf(bpf_cmd::BPF_PROG_LOAD, &mut attr)?;
    // SAFETY: BPF_PROG_LOAD returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_LINK_CREATE` of a netfilter program at (`pf`, `hooknum`, `priority`) in the
/// network namespace this thread runs in.
pub fn link_create_netfilter(
    prog: BorrowedFd<'_>,
    pf: u32,
    hooknum: u32,
    priority: i32,
) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    attr.link_create.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
    attr.link_create.attach_type = aya_obj::generated::bpf_attach_type::BPF_NETFILTER as u32;
    attr.link_create.__bindgen_anon_3.netfilter =
        aya_obj::generated::bpf_attr__bindgen_ty_14__bindgen_ty_3__bindgen_ty_5 {
            pf,
            hooknum,
            priority,
            flags: 0,
        };
    let fd = sys_bpf(bpf_cmd::BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_PROG_TEST_RUN` with packet data and a context in (may be empty: XDP and TC
/// take the frame alone; netfilter: the data is the packet, the context a `struct
/// nf_hook_state` with only `hook` and `pf` set).
pub fn prog_test_run_data(
    prog: BorrowedFd<'_>,
    data: &[u8],
    ctx_in: &[u8],
    repeat: u32,
) -> io::Result<CtxRun> {
    test_run(prog, data, ctx_in, &mut [], repeat).map(|(run, _)| run)
}

/// One `BPF_PROG_TEST_RUN` of a frame-taking program (XDP, TC) on `data`, and the
/// frame as the program left it (a `reject`'s answer), at most `max_out` bytes.
pub fn prog_test_run_frame(
    prog: BorrowedFd<'_>,
    data: &[u8],
    max_out: usize,
) -> io::Result<(CtxRun, Vec<u8>)> {
    let mut out = vec![0u8; max_out];
    let (run, len) = test_run_out(prog, data, &[], &mut [], &mut out, 1)?;
    out.truncate(len);
    Ok((run, out))
}

/// `BPF_OBJ_PIN` relative to a directory (`BPF_F_PATH_FD`): pins `fd` as `name` in
/// the directory `dir` is open on, failing with `EEXIST` when something has that name
/// (a pin never replaces a file).
pub fn obj_pin_at(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    let c =
        std::ffi::CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut attr = zeroed();
    attr.__bindgen_anon_4.pathname = c.as_ptr() as u64;
    attr.__bindgen_anon_4.bpf_fd = fd.as_raw_fd() as u32;
    attr.__bindgen_anon_4.file_flags = aya_obj::generated::BPF_F_PATH_FD;
    attr.__bindgen_anon_4.path_fd = dir.as_raw_fd();
    sys_bpf(bpf_cmd::BPF_OBJ_PIN, &mut attr).map(|_| ())
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock `bpf_ktime_get_ns` reads.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the one timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Whether a unit test that needs root may run: false when not root, which is a
/// failure under `SOCKC_KERNEL_TESTS=require` (CI), a skip otherwise.
#[cfg(test)]
pub(crate) fn tests_run_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert_ne!(
        std::env::var("SOCKC_KERNEL_TESTS").as_deref(),
        Ok("require"),
        "not root and SOCKC_KERNEL_TESTS=require"
    );
    false
}
