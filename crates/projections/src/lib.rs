//! The read side of egov-events: projectors that follow the event log's gap-free cursor
//! ([`domain::Cursor`]) and keep read models, each with its checkpoint moved in the same transaction
//! as its rows.
//!
//! Nothing lives here yet: the projection machinery and the `request_status` view arrive with
//! issue #5. The crate exists now so that the workspace shows the architecture of DESIGN.md from the
//! first commit, and so that the rule "projections never imports commands" holds from the start.
