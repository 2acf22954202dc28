//! Administration: the admin API (`/admin/v1/...`, JSON, on its own listener, authenticated
//! with an admin token), the web console it serves, and `gateway admin`, its command-line
//! client.
//!
//! * [`api`]: the JSON shapes (documented in `openapi/admin-v1.yaml`);
//! * [`service`]: what each operation does, and its typed errors;
//! * [`routes`]: the route table and the dispatch of a request to its operation;
//! * [`front`]: the listener's handler (token check, console files, JSON answers);
//! * [`console`]: the web console's pages;
//! * [`cli`]: the `gateway admin` commands, run remotely or in process.

pub mod api;
pub mod cli;
pub mod console;
pub mod front;
pub mod routes;
pub mod service;

pub use cli::Command;
pub use service::{Admin, AdminError};
