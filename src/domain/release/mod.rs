//! Releases and their as-built document: what went into each release (changes by kind with
//! their tickets, stakeholders, design decisions, test highlights, deployment notes), the
//! capacity arithmetic for its deployment, and the Kubernetes Deployment that follows from it.
//!
//! A release is one stream (`release-2`); `decide` holds the rules, `apply` cannot fail, and
//! the document is a function of the release streams' events and the contact list, like the
//! post-mortem. The capacity plan is decided once, when `/release capacity` is given, and its
//! figures and arithmetic are recorded in the event, so a later change of the rules never
//! rewrites the as-built of a release that already shipped.
//!
//! `values`: versions, change kinds, tickets and the refusals; `capacity`: the capacity
//! arithmetic; `rules`: the release's fold and rules; `as_built`: the document and the
//! Deployment.

pub mod as_built;
pub mod capacity;
pub mod rules;
pub mod values;

#[cfg(test)]
mod tests;
