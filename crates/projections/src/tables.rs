//! The shape of a read model's tables, as rebuilds and replay checks see them: which tables it has
//! and how each row is keyed, and how a rebuilt table takes the live one's place.

/// A table of a read model in the `projections` schema: its name is the read model's name with
/// `suffix`, and `key` names the columns that identify a row (compared by replay checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub suffix: &'static str,
    pub key: &'static [&'static str],
}

/// How a rebuilt table takes the live one's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// Renamed into place: readers wait for the swap's lock a few milliseconds.
    Rename,
    /// Its rows copied over the live table's in one transaction: views of other schemas keep
    /// reading the live table (a renamed table would take them along, or could not be dropped).
    Copy,
}
