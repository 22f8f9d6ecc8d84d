//! In-memory [`Registries`] for fast tests of the workflow: each lookup of a citizen answers what
//! a test scripted for it (an answer, or no answer), counted; unscripted lookups find nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use domain::catalog::Lookup;
use domain::Iin;
use futures_util::future::BoxFuture;

use super::{LookupQuery, Registries, Registry, RegistryAnswer, RegistryError};

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer at once.
    Answer(Result<RegistryAnswer, RegistryError>),
    /// Say nothing until the caller's deadline: the call times out.
    Silence,
}

/// Replies scripted per lookup and citizen; unscripted lookups answer "not found".
#[derive(Default)]
pub struct FakeRegistries {
    scripts: Mutex<HashMap<(Lookup, Iin), VecDeque<Reply>>>,
    calls: Mutex<Vec<LookupQuery>>,
}

impl FakeRegistries {
    pub fn new() -> Self {
        Self::default()
    }

    /// Scripts the replies to `lookup` about `iin`, one per call; the last one repeats.
    pub fn script(&self, lookup: Lookup, iin: &Iin, replies: Vec<Reply>) {
        if let Ok(mut scripts) = self.scripts.lock() {
            scripts.insert((lookup, iin.clone()), replies.into());
        }
    }

    /// Every lookup `iin` answers with `record`.
    pub fn found(&self, lookup: Lookup, iin: &Iin, record: serde_json::Value) {
        self.script(
            lookup,
            iin,
            vec![Reply::Answer(Ok(RegistryAnswer::Found(record)))],
        );
    }

    /// The queries asked so far, in order.
    pub fn calls(&self) -> Vec<LookupQuery> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// An error as the HTTP registries give it for a registry that answers 503.
    pub fn unavailable(lookup: Lookup) -> Reply {
        Reply::Answer(Err(RegistryError::Unavailable {
            registry: Registry::of(lookup).name(),
            attempts: 1,
            reason: super::Unavailability::Status(503),
        }))
    }

    fn reply(&self, query: &LookupQuery) -> Reply {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(query.clone());
        }
        let Ok(mut scripts) = self.scripts.lock() else {
            return Self::unavailable(query.lookup);
        };
        match scripts.get_mut(&(query.lookup, query.iin.clone())) {
            Some(replies) if replies.len() > 1 => replies
                .pop_front()
                .unwrap_or(Reply::Answer(Ok(RegistryAnswer::NotFound))),
            Some(replies) => replies
                .front()
                .cloned()
                .unwrap_or(Reply::Answer(Ok(RegistryAnswer::NotFound))),
            None => Reply::Answer(Ok(RegistryAnswer::NotFound)),
        }
    }
}

impl Registries for FakeRegistries {
    fn lookup<'a>(
        &'a self,
        query: &'a LookupQuery,
        deadline: tokio::time::Instant,
    ) -> BoxFuture<'a, Result<RegistryAnswer, RegistryError>> {
        let reply = self.reply(query);
        Box::pin(async move {
            match reply {
                Reply::Answer(answer) => answer,
                Reply::Silence => {
                    tokio::time::sleep_until(deadline).await;
                    Err(RegistryError::TimedOut {
                        registry: Registry::of(query.lookup).name(),
                        attempts: 1,
                    })
                }
            }
        })
    }
}
