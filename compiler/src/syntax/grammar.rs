//! The grammar (`grammar/sockc.pest`, the definition of the language) as pest's parser
//! and its [`Rule`] enum: what the AST builder ([`super::build`]) walks and what the
//! syntax-error hints ([`super::hints`]) name. A leaf of the front end: it uses nothing
//! else of it.

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/sockc.pest"]
pub(super) struct SockcParser;
