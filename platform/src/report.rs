//! What an apply reports: the events it emits as it goes and the report it ends with. Data only
//! (pure), shared by the executor that produces it and the renderer and CLI that show it.

use std::time::Duration;

use serde::Serialize;

use crate::model::Address;

/// One kind of provider call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// Create a resource.
    Create,
    /// Update a resource in place.
    Update,
    /// Delete a resource.
    Delete,
    /// Wait until a resource is available.
    Await,
}

impl OpKind {
    /// The verb, e.g. `create`.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
            OpKind::Await => "await",
        }
    }
}

/// How one operation ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// It succeeded.
    Done,
    /// It failed; the message holds the whole cause chain.
    Failed {
        /// The error and its causes.
        error: String,
    },
    /// It was not attempted because an operation it depends on failed.
    Skipped {
        /// The address whose operation failed.
        because: Address,
    },
    /// It was not started: the run was interrupted (Ctrl-C) first.
    NotStarted,
}

/// What the executor reports as it goes.
#[derive(Debug, Clone)]
pub enum ApplyEvent {
    /// A provider call started.
    Started {
        /// The resource.
        address: Address,
        /// The call.
        kind: OpKind,
    },
    /// A long operation says how it is going (a rollout's tasks, a database's status).
    Progress {
        /// The resource.
        address: Address,
        /// The call.
        kind: OpKind,
        /// What the provider reports, e.g. `deployment ecs-svc/1 in progress: 1 of 2 tasks running`.
        message: String,
    },
    /// An operation ended (or was skipped).
    Finished {
        /// The resource.
        address: Address,
        /// The call.
        kind: OpKind,
        /// How it ended.
        outcome: Outcome,
        /// How long it took.
        elapsed: Duration,
        /// The physical id, when known.
        physical_id: Option<String>,
    },
}

/// The result of one operation.
#[derive(Debug, Clone, Serialize)]
pub struct OpResult {
    /// The resource.
    pub address: Address,
    /// The call.
    pub kind: OpKind,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How long it took.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Every operation of an apply and how it ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    /// In the order they finished.
    pub results: Vec<OpResult>,
}

impl ApplyReport {
    /// Whether any operation failed or was skipped.
    pub fn is_success(&self) -> bool {
        self.results.iter().all(|r| r.outcome == Outcome::Done)
    }

    /// Operations that ended a given way.
    pub fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.outcome)).count()
    }
}

/// An error and its causes on one line, `: `-separated.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
