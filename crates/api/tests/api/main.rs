//! The API in-process: the app built on port 0 against a fresh, migrated database, with the
//! in-memory fakes of the NCA, the registries and the scans' store, so each test sets what the
//! outside world answers. One binary, a module per area; `helpers` spawns the app and speaks to
//! it, one method per endpoint. The end-to-end tests in `tests/e2e` run the real binary.

mod attacks;
mod centre;
mod health;
mod helpers;
mod log;
mod pages;
mod requests;
mod social_status;
