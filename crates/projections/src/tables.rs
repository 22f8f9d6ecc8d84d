//! The shape of a read model's tables, as rebuilds and replay checks see them: which tables it has
//! and how each row is keyed, and how a rebuilt table takes the live one's place.

/// A table of a read model in the `projections` schema: its name is the read model's name with
/// `suffix`, and `key` names the columns that identify a row (compared by replay checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub suffix: &'static str,
    pub key: &'static [&'static str],
    /// How replay checks compare it: its rows as stored (`None`), or as a function of the table
    /// unpacks them (the tree's tiles, leaf by leaf).
    pub unpacked: Option<Unpacked>,
}

impl Table {
    /// A table compared row by row as stored.
    pub const fn plain(suffix: &'static str, key: &'static [&'static str]) -> Table {
        Table {
            suffix,
            key,
            unpacked: None,
        }
    }
}

/// Rows packed several to a stored row, as replay checks compare them: `function` (a SQL function
/// taking the table's name) gives them one by one, keyed by `key`, and a differing one is named
/// with `label` in place of the table's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    pub function: &'static str,
    pub label: &'static str,
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
