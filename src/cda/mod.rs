//! What banc reads from a CDA document outside its rule engines: the header (patient, author,
//! custodian, codes: the sources of XDS metadata and of the MSSanté message conventions), HL7 V3
//! timestamps, and the national identifiers of professionals and organisations.
//!
//! Shared by the rules (`banc`), the containers (`xdm`, `mail`) and the doors (`scenario`,
//! `simulate`), none of which is about the others. Not a validator: it reads and parses; the
//! findings about what it reads belong to the rule modules.

pub mod header;
pub mod ids;
pub mod ts;
