//! Flow tracking: the direction-free key, the fixed-capacity table, and
//! bounded in-order reassembly of each direction's first bytes.

pub mod fragments;
pub mod key;
pub mod pool;
pub mod reassembly;
pub mod table;

pub use key::{Endpoint, FlowKey};
pub use table::{FlowIdx, FlowTable, TableFull};
