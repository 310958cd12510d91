//! The HTTP client `mailgatectl` uses to talk to the API.

use serde_json::Value;
use std::time::Duration;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("server answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The server's `error` text.
        message: String,
        /// The server's `errors` list (validation problems), if any.
        errors: Vec<String>,
    },
    /// The server could not be reached, or the answer was not JSON.
    #[error("{0}")]
    Transport(String),
}

/// An API client bound to one server and token.
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8787`).
    pub fn new(base: &str, token: &str) -> Client {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        Client { base: base.trim_end_matches('/').to_string(), token: token.to_string(), agent }
    }

    /// `GET path?query`.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        let mut request =
            self.agent.get(&format!("{}{path}", self.base)).set("Authorization", &format!("Bearer {}", self.token));
        for (name, value) in query {
            request = request.query(name, value);
        }
        answer(request.call())
    }

    /// `POST path` with a text body (a policy).
    pub fn post_text(&self, path: &str, body: &str) -> Result<Value, ClientError> {
        let request = self
            .agent
            .post(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Content-Type", "text/plain; charset=utf-8");
        answer(request.send_string(body))
    }
}

fn answer(result: Result<ureq::Response, ureq::Error>) -> Result<Value, ClientError> {
    match result {
        Ok(response) => response.into_json().map_err(|e| ClientError::Transport(format!("bad answer: {e}"))),
        Err(ureq::Error::Status(status, response)) => {
            let body: Value = response.into_json().unwrap_or(Value::Null);
            let message = body.get("error").and_then(Value::as_str).unwrap_or("no detail").to_string();
            let errors = body
                .get("errors")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            Err(ClientError::Status { status, message, errors })
        }
        Err(ureq::Error::Transport(e)) => Err(ClientError::Transport(e.to_string())),
    }
}
