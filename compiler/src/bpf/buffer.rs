//! The code buffer: instructions with symbolic branch targets, resolved in `finish`.
//!
//! Lowering emits branches to [`Label`]s that may not be bound yet; `finish` lays the
//! code out and patches every offset. A conditional branch whose target is beyond the
//! signed 16-bit `off` field becomes "inverted branch over a `gotol`" (the JMP32 `ja`
//! with a 32-bit offset), and an unconditional one becomes a `gotol`. Because a long
//! form is never shorter than the short one, the layout is found by iterating from
//! "all short" until no branch changes; it only grows, so this terminates.
//!
//! Each instruction also records which part of the program it belongs to (a
//! [`SrcLoc`]: a rule, the default, or the shared code around them), as cranelift's
//! `MachSrcLoc` does: lowering says [`CodeBuffer::set_srcloc`] where a rule's code
//! starts, and [`Code::srcloc_at`] answers for any slot, so a check that finds a fault
//! in the finished code names the rule it came from.
//!
//! Code no path reaches is left out before the layout (the verifier refuses a program
//! with an instruction it cannot reach, "unreachable insn"): a rule that always
//! decides leaves the rules and default after it unreachable, and one that never
//! matches the jump over its action's code.
//!
//! Post-invariant of `finish`: every jump lands on the first slot of an instruction
//! (never inside an `ld_imm64`), every label used was bound, every instruction is
//! reached from the first, and the source ranges are sorted, disjoint, and cover
//! exactly the slots emitted under a location.

use super::insn::{Cond, Insn, Reg};

/// A branch target; bind it exactly once with [`CodeBuffer::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(u32);

#[derive(Clone, Debug)]
enum Item {
    Insn(Insn),
    /// `ld_imm64 dst, map` (2 slots) with a relocation against the map's symbol.
    LdMap {
        dst: Reg,
        map: String,
    },
    /// Conditional branch; `src` is `Some` for register compares.
    Branch {
        cond: Cond,
        jmp32: bool,
        dst: Reg,
        src: Option<Reg>,
        imm: i32,
        target: Label,
    },
    Goto(Label),
}

/// The part of a program an instruction was emitted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrcLoc {
    /// `rules[i]` of the program.
    Rule(usize),
    /// `rules[first..=last]`, decided together (a classifier walk).
    Rules { first: usize, last: usize },
    /// The block's `default`.
    Default,
}

/// Output of [`CodeBuffer::finish`].
#[derive(Clone, Debug, Default)]
pub struct Code {
    pub insns: Vec<Insn>,
    /// `(slot of the ld_imm64, map symbol)`.
    pub map_relocs: Vec<(usize, String)>,
    /// `(slot, text)`: comments shown before the instruction at `slot`.
    pub notes: Vec<(usize, String)>,
    /// `(first slot, end slot, location)`, sorted; slots outside every range are the
    /// program's shared code (prologue, count-and-exit tail).
    pub srclocs: Vec<(usize, usize, SrcLoc)>,
    /// Slots of the helper calls that return a socket reference without the helper
    /// saying so by its id (`bpf_map_lookup_elem` on a socket map), for
    /// [`super::refcheck`].
    pub socket_acquires: Vec<usize>,
    /// `(slot, socket index)`: instructions whose immediate is the socket map slot of
    /// the module's socket `index`. Lowering writes the index itself there (the slot
    /// of a module loaded on its own); an install writes the slots it keeps per socket
    /// name before loading ([`crate::metadata::ProgramMeta::socket_slots`]).
    pub socket_slots: Vec<(usize, u32)>,
    /// `(slot, half)`: 32-bit compares whose immediate is that half of the install's
    /// network namespace cookie. Lowering writes 0 there, which no namespace has (the
    /// kernel's cookies start at 1), so a program loaded on its own matches none; an
    /// install writes its namespace's cookie before loading
    /// ([`crate::metadata::ProgramMeta::netns_cookie`]).
    pub netns_cookie: Vec<(usize, CookieHalf)>,
    /// `(slot, what)`: kfunc calls and kernel struct loads whose immediate or offset
    /// the runtime fills in from the kernel's BTF ([`super::kernel_ref`]).
    pub kernel_refs: Vec<(usize, super::kernel_ref::KernelRef)>,
    /// Slots of the kfunc calls that release what an acquiring call returned
    /// (`bpf_ct_release`), for [`super::refcheck`], which cannot tell from the
    /// placeholder id.
    pub releases: Vec<usize>,
}

/// Which 32 bits of a 64-bit cookie an immediate holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CookieHalf {
    Low,
    High,
}

impl CookieHalf {
    pub fn of(self, cookie: u64) -> u32 {
        match self {
            CookieHalf::Low => cookie as u32,
            CookieHalf::High => (cookie >> 32) as u32,
        }
    }
}

impl Code {
    /// The location the instruction at `slot` was emitted for, if any.
    pub fn srcloc_at(&self, slot: usize) -> Option<SrcLoc> {
        let i = self.srclocs.partition_point(|&(start, _, _)| start <= slot);
        let &(start, end, loc) = self.srclocs.get(i.checked_sub(1)?)?;
        (start <= slot && slot < end).then_some(loc)
    }
}

/// Slots the verifier may add per helper call when it inlines a map lookup.
pub(crate) const VERIFIER_GROWTH: usize = 12;
/// Slots of other rewrites (context field loads) a jump is kept short enough for.
pub(crate) const VERIFIER_SLACK: i64 = 1024;

#[derive(Default)]
pub struct CodeBuffer {
    items: Vec<Item>,
    /// Items that are [`CodeBuffer::call_acquire`] calls.
    acquires: Vec<usize>,
    /// Items that are [`CodeBuffer::store_socket_slot`] stores, with their socket.
    slots: Vec<(usize, u32)>,
    /// Items that are [`CodeBuffer::branch_netns_cookie_ne`] compares.
    netns: Vec<(usize, CookieHalf)>,
    /// Items whose immediate or offset is a [`super::kernel_ref::KernelRef`].
    kernel_refs: Vec<(usize, super::kernel_ref::KernelRef)>,
    /// Items that are releasing kfunc calls.
    releases: Vec<usize>,
    labels: Vec<Option<usize>>,
    notes: Vec<(usize, String)>,
    /// `(first item, location)`: each location holds until the next entry.
    srclocs: Vec<(usize, Option<SrcLoc>)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BufferError {
    #[error("internal error: label {0} used but never bound")]
    UnboundLabel(u32),
}

impl CodeBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() as u32 - 1)
    }

    /// Binds `l` to the next emitted item.
    pub fn bind(&mut self, l: Label) {
        debug_assert!(self.labels[l.0 as usize].is_none(), "label bound twice");
        self.labels[l.0 as usize] = Some(self.items.len());
    }

    /// Items emitted from now on belong to `loc` (`None`: to no rule), until the next
    /// call.
    pub fn set_srcloc(&mut self, loc: Option<SrcLoc>) {
        if self.srclocs.last().map(|&(_, l)| l) != Some(loc) {
            self.srclocs.push((self.items.len(), loc));
        }
    }

    /// Attaches a comment to the next emitted instruction.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push((self.items.len(), text.into()));
    }

    pub fn emit(&mut self, i: Insn) {
        debug_assert!(!i.is_jump(), "use branch/goto for jumps");
        self.items.push(Item::Insn(i));
    }

    /// A helper call that returns a socket reference (or NULL) in `r0` which the
    /// program must release: a map lookup in a socket map. Recorded for the
    /// reference check, which cannot tell the map from the call.
    pub fn call_acquire(&mut self, helper: u32) {
        self.acquires.push(self.items.len());
        self.items.push(Item::Insn(Insn::call(helper)));
    }

    /// A call of the kernel function `name` (`src = BPF_PSEUDO_KFUNC_CALL`, its BTF
    /// id filled in at load). `acquires`: it returns a reference (or NULL) the program
    /// must release; `releases`: it releases the reference in `r1`.
    pub fn call_kfunc(&mut self, name: &str, acquires: bool, releases: bool) {
        let at = self.items.len();
        self.kernel_refs
            .push((at, super::kernel_ref::KernelRef::kfunc(name)));
        if acquires {
            self.acquires.push(at);
        }
        if releases {
            self.releases.push(at);
        }
        self.note(name);
        let pseudo = aya_obj::generated::BPF_PSEUDO_KFUNC_CALL as u8;
        self.items.push(Item::Insn(Insn::new(
            super::insn::op::JMP | super::insn::op::CALL,
            0,
            pseudo,
            0,
            0,
        )));
    }

    /// `dst = *(size *)(src + offset of strukt.member)`, the offset filled in at load.
    pub fn load_kernel_field(
        &mut self,
        size: super::insn::Size,
        dst: Reg,
        src: Reg,
        strukt: &str,
        member: &str,
    ) {
        self.load_kernel_field_at(size, dst, src, (strukt, member), 0);
    }

    /// Like [`Self::load_kernel_field`], `within` bytes into the member (an array's
    /// later element): the runtime adds the member's offset to the load's.
    pub fn load_kernel_field_at(
        &mut self,
        size: super::insn::Size,
        dst: Reg,
        src: Reg,
        (strukt, member): (&str, &str),
        within: i16,
    ) {
        self.kernel_refs.push((
            self.items.len(),
            super::kernel_ref::KernelRef::field(strukt, member),
        ));
        match within {
            0 => self.note(format!("{strukt}.{member}")),
            n => self.note(format!("{strukt}.{member} + {n}")),
        }
        self.items
            .push(Item::Insn(Insn::ldx(size, dst, src, within)));
    }

    /// `dst = (the byte of struct strukt at src that holds the one-bit bitfield
    /// member) & (its bit)`: nonzero when the bit is set. The byte's offset and the
    /// mask are filled in at load.
    pub fn load_kernel_bit(&mut self, dst: Reg, src: Reg, (strukt, member): (&str, &str)) {
        let named = (strukt.to_string(), member.to_string());
        self.kernel_refs.push((
            self.items.len(),
            super::kernel_ref::KernelRef::BitByte {
                strukt: named.0.clone(),
                member: named.1.clone(),
            },
        ));
        self.note(format!("{strukt}.{member} (a bit)"));
        self.items
            .push(Item::Insn(Insn::ldx(super::insn::Size::B, dst, src, 0)));
        self.kernel_refs.push((
            self.items.len(),
            super::kernel_ref::KernelRef::BitMask {
                strukt: named.0,
                member: named.1,
            },
        ));
        self.items
            .push(Item::Insn(Insn::alu64_imm(super::insn::op::AND, dst, 0)));
    }

    /// `dst = offsetof(struct strukt, member)` (a 64-bit move), filled in at load.
    pub fn mov_kernel_field_offset(&mut self, dst: Reg, strukt: &str, member: &str) {
        self.kernel_refs.push((
            self.items.len(),
            super::kernel_ref::KernelRef::Offset {
                strukt: strukt.into(),
                member: member.into(),
            },
        ));
        self.note(format!("offset of {strukt}.{member}"));
        self.items.push(Item::Insn(Insn::mov64_imm(dst, 0)));
    }

    /// `dst = BTF id of struct strukt` (a 32-bit move), the id filled in at load.
    pub fn mov_kernel_type_id(&mut self, dst: Reg, strukt: &str) {
        self.kernel_refs.push((
            self.items.len(),
            super::kernel_ref::KernelRef::Type {
                name: strukt.into(),
            },
        ));
        self.note(format!("BTF id of struct {strukt}"));
        self.items.push(Item::Insn(Insn::mov64_imm(dst, 0)));
    }

    /// `*(u32 *)(r10 + off) = slot of socket index` (see [`Code::socket_slots`]).
    pub fn store_socket_slot(&mut self, off: i16, socket: u32) {
        self.slots.push((self.items.len(), socket));
        self.items.push(Item::Insn(Insn::st_imm(
            super::insn::Size::W,
            Reg::FP,
            off,
            socket as i32,
        )));
    }

    /// `if (u32)dst != half of the install's netns cookie goto target` (see
    /// [`Code::netns_cookie`]).
    pub fn branch_netns_cookie_ne(&mut self, dst: Reg, half: CookieHalf, target: Label) {
        self.netns.push((self.items.len(), half));
        self.items.push(Item::Branch {
            cond: Cond::Ne,
            jmp32: true,
            dst,
            src: None,
            imm: 0,
            target,
        });
    }

    pub fn ld_map(&mut self, dst: Reg, map: &str) {
        self.items.push(Item::LdMap {
            dst,
            map: map.to_string(),
        });
    }

    /// `if dst <cond> imm goto target` (64-bit compare).
    pub fn branch_imm(&mut self, cond: Cond, dst: Reg, imm: i32, target: Label) {
        self.items.push(Item::Branch {
            cond,
            jmp32: false,
            dst,
            src: None,
            imm,
            target,
        });
    }

    /// `if wDst <cond> imm goto target` (32-bit compare; the immediate is not
    /// sign-extended into the upper half, so any `u32` constant works).
    pub fn branch32_imm(&mut self, cond: Cond, dst: Reg, imm: u32, target: Label) {
        self.items.push(Item::Branch {
            cond,
            jmp32: true,
            dst,
            src: None,
            imm: imm as i32,
            target,
        });
    }

    pub fn branch_reg(&mut self, cond: Cond, dst: Reg, src: Reg, target: Label) {
        self.items.push(Item::Branch {
            cond,
            jmp32: false,
            dst,
            src: Some(src),
            imm: 0,
            target,
        });
    }

    pub fn goto(&mut self, target: Label) {
        self.items.push(Item::Goto(target));
    }

    /// Number of items emitted so far (for tests and size estimates).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Slots an item takes in the given form.
    fn slots(item: &Item, long: bool) -> usize {
        match item {
            Item::Insn(_) | Item::Goto(_) => 1,
            Item::LdMap { .. } => 2,
            Item::Branch { cond, .. } => match (long, cond.invert()) {
                (false, _) => 1,
                // if !cond goto +1; gotol target
                (true, Some(_)) => 2,
                // if cond goto +1; ja +1; gotol target
                (true, None) => 3,
            },
        }
    }

    /// Lays the code out (each branch short or long, see the module docs), encodes it,
    /// and maps every recorded item (relocations, notes, socket slots, cookies, source
    /// locations) to its slot.
    pub fn finish(mut self) -> Result<Code, BufferError> {
        self.prune_unreachable()?;
        self.laid_out()
    }

    /// [`CodeBuffer::finish`] keeping every item: a test of the layout alone.
    #[cfg(test)]
    fn finish_unpruned(self) -> Result<Code, BufferError> {
        self.laid_out()
    }

    /// The items laid out and encoded, as they are.
    fn laid_out(self) -> Result<Code, BufferError> {
        for it in &self.items {
            if let Item::Branch { target, .. } | Item::Goto(target) = it {
                self.target_item(*target)?;
            }
        }
        let (long, start) = self.layout()?;
        let mut code = Code::default();
        for (i, it) in self.items.iter().enumerate() {
            self.encode(it, start[i], long[i], &start, &mut code)?;
        }
        code.socket_acquires = self.acquires.iter().map(|&item| start[item]).collect();
        code.releases = self.releases.iter().map(|&item| start[item]).collect();
        code.kernel_refs = self
            .kernel_refs
            .iter()
            .map(|(item, what)| (start[*item], what.clone()))
            .collect();
        code.socket_slots = self
            .slots
            .iter()
            .map(|&(item, socket)| (start[item], socket))
            .collect();
        // A long branch puts the compare (with the immediate) first.
        code.netns_cookie = self
            .netns
            .iter()
            .map(|&(item, half)| (start[item], half))
            .collect();
        code.notes = self
            .notes
            .into_iter()
            .map(|(item, text)| (start[item], text))
            .collect();
        let ends = self
            .srclocs
            .iter()
            .skip(1)
            .map(|&(item, _)| item)
            .chain([self.items.len()]);
        code.srclocs = self
            .srclocs
            .iter()
            .zip(ends)
            .filter_map(|(&(from, loc), to)| Some((start[from], start[to], loc?)))
            .filter(|&(a, b, _)| a < b)
            .collect();
        Ok(code)
    }

    /// Leaves out the items no path from the first reaches, and moves every record of
    /// an item (labels, notes, source locations, relocated slots) to its new place; a
    /// record of an item left out goes with it, but a note or a location moves to the
    /// next item kept.
    fn prune_unreachable(&mut self) -> Result<(), BufferError> {
        let reached = self.reached()?;
        if reached.iter().all(|&r| r) {
            return Ok(());
        }
        // new[i]: the place of item i among those kept (of the next kept, when left out).
        let mut new = Vec::with_capacity(reached.len() + 1);
        let mut kept = 0;
        for &r in &reached {
            new.push(kept);
            kept += usize::from(r);
        }
        new.push(kept);
        let items = std::mem::take(&mut self.items);
        self.items = items
            .into_iter()
            .zip(&reached)
            .filter_map(|(it, &r)| r.then_some(it))
            .collect();
        for l in self.labels.iter_mut().flatten() {
            *l = new[*l];
        }
        let (reached, new) = (&reached, &new);
        kept_moved(&mut self.acquires, |i| i, reached, new);
        kept_moved(&mut self.releases, |i| i, reached, new);
        kept_moved(&mut self.slots, |(i, _)| i, reached, new);
        kept_moved(&mut self.netns, |(i, _)| i, reached, new);
        kept_moved(&mut self.kernel_refs, |(i, _)| i, reached, new);
        self.notes.iter_mut().for_each(|(i, _)| *i = new[*i]);
        self.srclocs.iter_mut().for_each(|(i, _)| *i = new[*i]);
        Ok(())
    }

    /// Which items a path from the first reaches: an item is followed by the next one
    /// unless it is a `goto` or an `exit`, and a branch also by its target.
    fn reached(&self) -> Result<Vec<bool>, BufferError> {
        let mut reached = vec![false; self.items.len()];
        let mut work = vec![0usize];
        while let Some(i) = work.pop() {
            if i >= self.items.len() || reached[i] {
                continue;
            }
            reached[i] = true;
            match &self.items[i] {
                Item::Goto(t) => work.push(self.target_item(*t)?),
                Item::Branch { target, .. } => {
                    work.push(self.target_item(*target)?);
                    work.push(i + 1);
                }
                Item::Insn(insn)
                    if insn.class() == super::insn::op::JMP
                        && insn.code & 0xf0 == super::insn::op::EXIT => {}
                Item::Insn(_) | Item::LdMap { .. } => work.push(i + 1),
            }
        }
        Ok(reached)
    }

    /// The item a label is bound to.
    fn target_item(&self, l: Label) -> Result<usize, BufferError> {
        self.labels[l.0 as usize].ok_or(BufferError::UnboundLabel(l.0))
    }

    /// Which branches are long, and the first slot of every item (`start[len]` is the
    /// total): from all short, a branch becomes long when its jump, stretched by what
    /// the verifier may insert, no longer fits 16 bits, until none changes.
    fn layout(&self) -> Result<(Vec<bool>, Vec<usize>), BufferError> {
        let mut long = vec![false; self.items.len()];
        let mut start = vec![0usize; self.items.len() + 1];
        // calls[i] = helper calls before item i: the verifier inlines some map lookups
        // (a call becomes up to 8 instructions), which stretches every jump across
        // them, and it refuses a 16-bit jump it cannot stretch ("cannot be patched due
        // to 16-bit range"). A jump is long unless it fits with [`VERIFIER_GROWTH`]
        // slots per call it crosses and [`VERIFIER_SLACK`] more.
        let mut calls = vec![0usize; self.items.len() + 1];
        for (i, it) in self.items.iter().enumerate() {
            let call = matches!(it, Item::Insn(insn)
                if insn.class() == super::insn::op::JMP && insn.code & 0xf0 == super::insn::op::CALL);
            calls[i + 1] = calls[i] + usize::from(call);
        }
        loop {
            for (i, it) in self.items.iter().enumerate() {
                start[i + 1] = start[i] + Self::slots(it, long[i]);
            }
            let mut changed = false;
            for (i, it) in self.items.iter().enumerate() {
                let (Item::Branch { target, .. } | Item::Goto(target)) = it else {
                    continue;
                };
                if long[i] {
                    continue;
                }
                let from = start[i] as i64 + 1;
                let t = self.target_item(*target)?;
                let to = start[t] as i64;
                let crossed = calls[t.max(i)] - calls[t.min(i)];
                let stretched =
                    (to - from).abs() + (VERIFIER_GROWTH * crossed) as i64 + VERIFIER_SLACK;
                if stretched > i64::from(i16::MAX) {
                    long[i] = true;
                    changed = true;
                }
            }
            if !changed {
                return Ok((long, start));
            }
        }
    }

    /// Appends the instructions of item `it`, which starts at slot `here` and is `long`
    /// or not, to `code`; `start` is the layout's first slot of every item.
    fn encode(
        &self,
        it: &Item,
        here: usize,
        long: bool,
        start: &[usize],
        code: &mut Code,
    ) -> Result<(), BufferError> {
        match it {
            Item::Insn(insn) => code.insns.push(*insn),
            Item::LdMap { dst, map } => {
                code.map_relocs.push((here, map.clone()));
                code.insns.extend(Insn::ld_map_fd(*dst));
            }
            Item::Goto(t) => {
                let off = start[self.target_item(*t)?] as i64 - (here as i64 + 1);
                code.insns.push(if long {
                    Insn::gotol(off as i32)
                } else {
                    Insn::ja(off as i16)
                });
            }
            Item::Branch {
                cond,
                jmp32,
                dst,
                src,
                imm,
                target,
            } => {
                let to = start[self.target_item(*target)?] as i64;
                let mk = |c: Cond, off: i16| {
                    let mut insn = match src {
                        Some(s) => Insn::jmp_reg(c, *dst, *s, off),
                        None if *jmp32 => Insn::jmp32_imm(c, *dst, *imm, off),
                        None => Insn::jmp_imm(c, *dst, *imm, off),
                    };
                    if *jmp32 {
                        insn.code = (insn.code & !0x07) | super::insn::op::JMP32;
                    }
                    insn
                };
                if !long {
                    code.insns.push(mk(*cond, (to - (here as i64 + 1)) as i16));
                } else if let Some(inv) = cond.invert() {
                    code.insns.push(mk(inv, 1));
                    code.insns
                        .push(Insn::gotol((to - (here as i64 + 2)) as i32));
                } else {
                    code.insns.push(mk(*cond, 1));
                    code.insns.push(Insn::ja(1));
                    code.insns
                        .push(Insn::gotol((to - (here as i64 + 3)) as i32));
                }
            }
        }
        Ok(())
    }
}

/// The records of `list` whose item (`item` of each) was `reached`, each moved to the
/// item's new place (`new`, [`CodeBuffer::prune_unreachable`]).
fn kept_moved<T>(
    list: &mut Vec<T>,
    item: impl Fn(&mut T) -> &mut usize,
    reached: &[bool],
    new: &[usize],
) {
    list.retain_mut(|r| reached[*item(r)]);
    list.iter_mut().for_each(|r| *item(r) = new[*item(r)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::insn::op;

    /// Follows a jump at `pc` to its destination slot.
    fn dest(code: &[Insn], pc: usize) -> usize {
        let i = code[pc];
        let off = if i.code == op::JMP32 | op::JA {
            i.imm as i64
        } else {
            i.off as i64
        };
        (pc as i64 + 1 + off) as usize
    }

    /// Items no path reaches are left out (the verifier refuses "unreachable insn"),
    /// and what was recorded of the items after them moves with them: a branch
    /// target, a map relocation, a source location.
    #[test]
    fn code_no_path_reaches_is_left_out() {
        let mut b = CodeBuffer::new();
        let end = b.new_label();
        let dead_target = b.new_label();
        b.set_srcloc(Some(SrcLoc::Rule(0)));
        b.emit(Insn::mov64_imm(Reg::R0, 2));
        b.goto(end);
        // Never reached: a rule's test and action after an unconditional goto.
        b.set_srcloc(Some(SrcLoc::Rule(1)));
        b.branch_imm(Cond::Eq, Reg::R0, 1, dead_target);
        b.emit(Insn::mov64_imm(Reg::R0, 1));
        b.bind(dead_target);
        b.emit(Insn::exit());
        b.set_srcloc(Some(SrcLoc::Default));
        b.bind(end);
        b.ld_map(Reg::R1, "m");
        b.emit(Insn::exit());
        let c = b.finish().unwrap();
        // mov, goto (to the next slot), ld_imm64 (2 slots), exit.
        assert_eq!(c.insns.len(), 5, "{:?}", c.insns);
        assert_eq!(dest(&c.insns, 1), 2);
        assert_eq!(c.map_relocs, [(2, "m".to_string())]);
        assert_eq!(c.srcloc_at(0), Some(SrcLoc::Rule(0)));
        assert_eq!(c.srcloc_at(2), Some(SrcLoc::Default));
        assert!(c.srclocs.iter().all(|&(_, _, l)| l != SrcLoc::Rule(1)));
    }

    #[test]
    fn short_branches_resolve_forward_and_backward() {
        let mut b = CodeBuffer::new();
        let top = b.new_label();
        let end = b.new_label();
        b.bind(top);
        b.emit(Insn::mov64_imm(Reg::R0, 0));
        b.branch_imm(Cond::Eq, Reg::R0, 1, end);
        b.ld_map(Reg::R1, "m");
        b.goto(top);
        b.bind(end);
        b.emit(Insn::exit());
        let c = b.finish().unwrap();
        assert_eq!(c.insns.len(), 6);
        assert_eq!(dest(&c.insns, 1), 5);
        assert_eq!(dest(&c.insns, 4), 0);
        assert_eq!(c.map_relocs, vec![(2, "m".to_string())]);
    }

    #[test]
    fn far_branches_become_gotol_and_land_right() {
        let mut b = CodeBuffer::new();
        let far = b.new_label();
        b.branch_imm(Cond::Ne, Reg::R1, 7, far);
        b.branch_imm(Cond::Set, Reg::R1, 1, far);
        b.goto(far);
        for _ in 0..40_000 {
            b.emit(Insn::mov64_imm(Reg::R0, 1));
        }
        b.bind(far);
        b.emit(Insn::exit());
        // The filler after the `goto` is reached by nothing: kept for the layout.
        let c = b.finish_unpruned().unwrap();
        let exit_at = c.insns.len() - 1;
        // jne becomes jeq +1; gotol
        assert_eq!(c.insns[0].code, op::JMP | op::JEQ | op::K);
        assert_eq!(dest(&c.insns, 0), 2);
        assert_eq!(dest(&c.insns, 1), exit_at);
        // jset has no inverse: jset +1; ja +1; gotol
        assert_eq!(c.insns[2].code, op::JMP | op::JSET | op::K);
        assert_eq!(dest(&c.insns, 2), 4);
        assert_eq!(dest(&c.insns, 3), 5);
        assert_eq!(dest(&c.insns, 4), exit_at);
        assert_eq!(c.insns[5].code, op::JMP32 | op::JA);
        assert_eq!(dest(&c.insns, 5), exit_at);
    }

    /// A branch stays short while its distance, stretched by what the verifier may
    /// add for each helper call it crosses plus the slack, fits 16 bits: exactly at
    /// that limit it is short, one call more makes it long.
    #[test]
    fn a_branch_exactly_at_the_stretched_limit_stays_short() {
        let calls = 100usize;
        let room = i16::MAX as usize - VERIFIER_SLACK as usize - VERIFIER_GROWTH * calls;
        for (extra_call, long) in [(false, false), (true, true)] {
            let mut b = CodeBuffer::new();
            let l = b.new_label();
            b.branch_imm(Cond::Eq, Reg::R1, 0, l);
            for i in 0..room {
                b.emit(if i < calls + usize::from(extra_call) {
                    Insn::call(7)
                } else {
                    Insn::mov64_imm(Reg::R0, 1)
                });
            }
            b.bind(l);
            b.emit(Insn::exit());
            let c = b.finish().unwrap();
            if long {
                assert_eq!(
                    c.insns[1],
                    Insn::gotol(room as i32),
                    "inverted branch, then gotol"
                );
            } else {
                assert_eq!(c.insns[0].off as usize, room);
                assert_eq!(c.insns.len(), room + 2);
            }
        }
    }

    #[test]
    fn unbound_labels_are_an_error_not_a_panic() {
        let mut b = CodeBuffer::new();
        let l = b.new_label();
        b.goto(l);
        assert_eq!(b.finish().unwrap_err(), BufferError::UnboundLabel(0));
    }
}
