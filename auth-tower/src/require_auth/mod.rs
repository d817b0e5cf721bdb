//! [`RequireAuthLayer`] and its [`RequireAuth`] service: authenticate, check
//! the policy and limits, attach the identity, add the decision's headers.

mod body;
mod future;
mod layer;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::RequireAuthLayer;
pub(crate) use service::Checked;
pub use service::RequireAuth;
