//! `GET /v1/status`: what this instance is — the leader or a follower — for operators, load
//! balancers and the failover tests. It says nothing sensitive, so it needs no token.

use crate::store::LeaderState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The status route over this instance's role.
pub fn router(leader: LeaderState) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .with_state(leader)
}

async fn status(State(leader): State<LeaderState>) -> Json<Value> {
    Json(json!({
        "leader": leader.is_leader(),
        "generation": leader.generation(),
    }))
}
