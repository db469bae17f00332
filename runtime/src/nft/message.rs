//! nfnetlink messages of the nf_tables subsystem, framed by the runtime itself:
//! attributes written and read, one request answered by a dump or an
//! acknowledgement ([`get`]), and transactions ([`Batch`]) the kernel applies whole
//! or not at all, tied to the ruleset generation their caller looked at.
//!
//! Invariant: nothing here reads past the bytes the kernel sent (a truncated
//! attribute or message ends the reading), and every request runs in the calling
//! thread's network namespace (the socket is made there).

use std::io;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

/// The sequence number of a batch's `NFNL_MSG_BATCH_BEGIN` (messages count from it).
const BEGIN_SEQ: u32 = 1;

/// A nested attribute's type (`NLA_F_NESTED` set), as the kernel expects for nests.
pub fn nested(ty: u16) -> u16 {
    ty | libc::NLA_F_NESTED as u16
}

/// Appends attribute `ty` holding `data`, padded to 4 bytes.
pub fn put(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// A string attribute, NUL-terminated as nftables sends them.
pub fn put_str(buf: &mut Vec<u8>, ty: u16, s: &str) {
    let mut data = s.as_bytes().to_vec();
    data.push(0);
    put(buf, ty, &data);
}

/// The (type, data) of each attribute in `attrs`, nested flag and byte order flag
/// taken off the type; reading stops at the first attribute that does not fit.
pub fn attributes(attrs: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= attrs.len() {
        let len = u16::from_ne_bytes([attrs[at], attrs[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[at + 2], attrs[at + 3]]) & 0x3fff;
        if len < 4 || at + len > attrs.len() {
            break;
        }
        out.push((kind, &attrs[at + 4..at + len]));
        at += len.next_multiple_of(4);
    }
    out
}

/// The data of the first attribute of type `ty` in `attrs`.
pub fn attribute(attrs: &[u8], ty: u16) -> Option<&[u8]> {
    attributes(attrs)
        .into_iter()
        .find_map(|(kind, data)| (kind == ty).then_some(data))
}

/// A string attribute's text (its NUL and anything after it dropped).
pub fn text(data: &[u8]) -> String {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// A big-endian 32-bit attribute (nf_tables' numbers are in network order).
pub fn be32(data: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(..4)?.try_into().ok()?))
}

/// One object the kernel answered with: its family (from the `nfgenmsg`) and its
/// attributes.
#[derive(Clone, Debug)]
pub struct Object {
    pub family: u8,
    pub attrs: Vec<u8>,
}

impl Object {
    /// The data of its first attribute of type `ty`.
    pub fn get(&self, ty: u16) -> Option<&[u8]> {
        attribute(&self.attrs, ty)
    }

    /// Its string attribute `ty` (empty when it has none).
    pub fn text(&self, ty: u16) -> String {
        self.get(ty).map(text).unwrap_or_default()
    }
}

/// Sends get request `msg` (family `family`, `flags`: `NLM_F_DUMP` for a dump) and
/// returns the objects the kernel answers with, until the dump's end or the
/// acknowledgement; an object that does not exist is none.
pub fn get(family: u8, msg: i32, flags: i32, attrs: &[u8]) -> io::Result<Vec<Object>> {
    let socket = open()?;
    socket.send(&nft_message(family, msg, flags, 1, attrs), 0)?;
    let mut objects = Vec::new();
    loop {
        let bytes = crate::netlink::receive(&socket)?;
        for (ty, payload) in messages(&bytes) {
            if ty == libc::NLMSG_DONE as u16 {
                return Ok(objects);
            }
            if ty != libc::NLMSG_ERROR as u16 {
                objects.push(Object {
                    family: payload.first().copied().unwrap_or(0),
                    attrs: payload.get(4..).unwrap_or_default().to_vec(),
                });
                continue;
            }
            return match error_code(payload) {
                0 => Ok(objects),
                e if e == -libc::ENOENT => Ok(Vec::new()),
                e => Err(io::Error::from_raw_os_error(-e)),
            };
        }
    }
}

/// One nfnetlink message of the nftables subsystem, of family `family`.
pub fn nft_message(family: u8, msg: i32, flags: i32, seq: u32, attrs: &[u8]) -> Vec<u8> {
    let ty = nft_type(msg);
    let flags = libc::NLM_F_REQUEST as u16 | flags as u16;
    netlink_message(ty, flags, seq, family, 0, attrs)
}

/// The netlink message type of nftables message `msg`.
fn nft_type(msg: i32) -> u16 {
    ((libc::NFNL_SUBSYS_NFTABLES as u16) << 8) | msg as u16
}

/// An nlmsghdr, an nfgenmsg (`family`, version 0, `res_id` big-endian) and `attrs`.
fn netlink_message(
    ty: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    attrs: &[u8],
) -> Vec<u8> {
    let len = 16 + 4 + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.push(family);
    m.push(libc::NFNETLINK_V0 as u8);
    m.extend_from_slice(&res_id.to_be_bytes());
    m.extend_from_slice(attrs);
    m
}

/// An nftables transaction: messages between `NFNL_MSG_BATCH_BEGIN` and `_END`,
/// each acknowledged, applied by the kernel all together or not at all.
pub struct Batch {
    buf: Vec<u8>,
    seq: u32,
    acked: usize,
}

impl Batch {
    /// A batch the kernel applies only to ruleset `generation` (refused with
    /// `ERESTART` when anything changed the ruleset since).
    pub fn new(generation: u32) -> Batch {
        let mut b = Batch {
            buf: Vec::new(),
            seq: 0,
            acked: 0,
        };
        let mut genid = Vec::new();
        put(
            &mut genid,
            libc::NFNL_BATCH_GENID as u16,
            &generation.to_be_bytes(),
        );
        b.control(libc::NFNL_MSG_BATCH_BEGIN, &genid);
        b
    }

    fn control(&mut self, ty: i32, attrs: &[u8]) {
        self.seq += 1;
        let res_id = libc::NFNL_SUBSYS_NFTABLES as u16;
        let m = netlink_message(
            ty as u16,
            libc::NLM_F_REQUEST as u16,
            self.seq,
            0,
            res_id,
            attrs,
        );
        self.buf.extend_from_slice(&m);
    }

    /// Adds message `msg` of family `family`, acknowledged.
    pub fn message(&mut self, family: u8, msg: i32, flags: i32, attrs: &[u8]) {
        self.seq += 1;
        self.acked += 1;
        let m = nft_message(family, msg, flags | libc::NLM_F_ACK, self.seq, attrs);
        self.buf.extend_from_slice(&m);
    }

    /// Sends the batch and waits for every acknowledgement; the first error the
    /// kernel reports is the batch's. An error answering `NFNL_MSG_BATCH_BEGIN` (no
    /// permission, no nf_tables) means nothing of the batch ran and no more answers
    /// come.
    pub fn send(mut self) -> io::Result<()> {
        self.control(libc::NFNL_MSG_BATCH_END, &[]);
        let socket = open()?;
        socket.send(&self.buf, 0)?;
        let mut answers = 0;
        let mut first_error = 0;
        while answers < self.acked {
            let bytes = crate::netlink::receive(&socket)?;
            for (ty, payload) in messages(&bytes) {
                if ty != libc::NLMSG_ERROR as u16 {
                    continue;
                }
                let code = error_code(payload);
                if code != 0 && error_seq(payload) == Some(BEGIN_SEQ) {
                    return Err(io::Error::from_raw_os_error(-code));
                }
                answers += 1;
                if first_error == 0 {
                    first_error = code;
                }
            }
        }
        match first_error {
            0 => Ok(()),
            e => Err(io::Error::from_raw_os_error(-e)),
        }
    }
}

fn open() -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    crate::netlink::set_receive_timeout(&socket, std::time::Duration::from_secs(5))?;
    Ok(socket)
}

/// The (type, payload) of each netlink message in `bytes`.
fn messages(bytes: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= bytes.len() {
        let len = u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap_or_default()) as usize;
        let ty = u16::from_ne_bytes([bytes[at + 4], bytes[at + 5]]);
        if len < 16 || at + len > bytes.len() {
            break;
        }
        out.push((ty, &bytes[at + 16..at + len]));
        at += len.next_multiple_of(4);
    }
    out
}

/// The sequence number of the request an `NLMSG_ERROR` payload answers (it quotes
/// the request's header after the errno).
fn error_seq(payload: &[u8]) -> Option<u32> {
    let b = payload.get(12..16)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// The (negative) errno of an `NLMSG_ERROR` payload; 0 is an acknowledgement.
fn error_code(payload: &[u8]) -> i32 {
    payload.get(..4).map_or(-libc::EPROTO, |b| {
        i32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_strings_terminated() {
        let mut a = Vec::new();
        put_str(&mut a, 1, "ab");
        assert_eq!(a, [7, 0, 1, 0, b'a', b'b', 0, 0]);
        assert_eq!(attribute(&a, 1).map(text), Some("ab".to_string()));
    }

    #[test]
    fn a_truncated_attribute_is_not_read_past_the_buffer() {
        let mut a = Vec::new();
        put_str(&mut a, 1, "name");
        put(&mut a, 6, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(attribute(&a, 6), Some(&[1, 2, 3, 4, 5, 6, 7, 8][..]));
        assert_eq!(attribute(&a[..a.len() - 4], 6), None);
        assert_eq!(attributes(&a[..a.len() - 4]).len(), 1);
    }

    #[test]
    fn a_batch_is_framed_by_begin_and_end() {
        let mut b = Batch::new(7);
        b.message(libc::NFPROTO_INET as u8, libc::NFT_MSG_DELTABLE, 0, &[]);
        b.control(libc::NFNL_MSG_BATCH_END, &[]);
        let types: Vec<u16> = messages(&b.buf).iter().map(|(t, _)| *t).collect();
        assert_eq!(types, [0x10, 0x0a02, 0x11]);
        assert_eq!(b.acked, 1);
    }
}
