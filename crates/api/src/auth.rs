//! Authentication at the HTTP edge: the bearer token of a request, checked by the
//! [`Authenticator`] the app shares, becomes the [`Principal`] handlers take as an argument.

use std::future::{ready, Ready};

use actix_web::{web, FromRequest, HttpRequest};

use crate::problem::ApiError;
use crate::token::{Authenticator, Principal, TokenError};

/// The bearer token of a request, if it has one.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let outcome = (|| {
            let authenticator = req
                .app_data::<web::Data<Authenticator>>()
                .ok_or_else(|| ApiError::internal("the authenticator is missing"))?;
            let token = bearer(req).ok_or(ApiError::Unauthorized(TokenError::Missing))?;
            authenticator
                .authenticate(token)
                .map_err(ApiError::Unauthorized)
        })();
        if let Err(ApiError::Unauthorized(reason)) = &outcome {
            tracing::info!(reason = reason.code(), "token refused");
        }
        ready(outcome)
    }
}
