//! The demo's OpenAPI 3.1 document (`GET /openapi.json`): its routes, what
//! each answers, and the security each guard accepts, as auth-core
//! describes it (feature `openapi`). Built once at start; both adapters
//! serve the same bytes.

use auth_core::Guard;
use auth_core::openapi::utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use auth_core::openapi::utoipa::openapi::response::ResponseBuilder;
use auth_core::openapi::utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, OpenApiBuilder, PathsBuilder, Response,
};
use auth_core::openapi::{Security, oauth2_scheme};

use crate::Shared;

fn response(description: &str) -> Response {
    ResponseBuilder::new().description(description).build()
}

/// One guarded operation: its security, required scopes, and every answer
/// the guard can give.
fn guarded(summary: &str, security: &Security, scopes: &[&str], limited: bool) -> OperationBuilder {
    let mut op = OperationBuilder::new()
        .summary(Some(summary))
        .securities(Some(security.requirements(scopes)))
        .response("200", response("the caller, as JSON"))
        .response(
            "400",
            response("two credentials at once, or one in the query string"),
        )
        .response(
            "401",
            response("no credential, or one that is refused (`WWW-Authenticate` says which)"),
        )
        .response(
            "403",
            response("a valid credential without the scope or identity the route needs"),
        )
        .response(
            "503",
            response("a dependency that decides is unavailable (`Retry-After`)"),
        );
    if limited {
        op = op.response(
            "429",
            response("over the rate limit (`Retry-After`, `RateLimit-Policy`, `RateLimit`)"),
        );
    } else {
        op = op.response(
            "429",
            response("too many failed Basic attempts (`Retry-After`)"),
        );
    }
    op
}

/// The document, as JSON bytes.
pub(crate) fn document(shared: &Shared, issuer: &str) -> Vec<u8> {
    let op = |summary: &str, guard: &Guard, scopes: &[&str], limited: bool| {
        guarded(summary, &guard.openapi_security(), scopes, limited).build()
    };
    let get = |o| PathItem::new(HttpMethod::Get, o);
    let reports = {
        let mut item = get(op("read reports", &shared.guard, &["reports:read"], false));
        item.post = Some(op(
            "write a report",
            &shared.guard,
            &["reports:write"],
            false,
        ));
        item
    };
    let paths = PathsBuilder::new()
        .path(
            "/healthz",
            get(OperationBuilder::new()
                .summary(Some("liveness"))
                .response("200", response("`{\"status\":\"ok\"}`"))
                .build()),
        )
        .path(
            "/v1/whoami",
            get(op("who the caller is", &shared.guard, &[], false)),
        )
        .path("/v1/reports", reports)
        .path(
            "/v1/admin",
            get(op("administration", &shared.guard, &["admin"], false)),
        )
        .path(
            "/v1/limited",
            get(op(
                "at most 5 requests per 60 s per identity",
                &shared.limited_guard,
                &[],
                true,
            )),
        )
        .path(
            "/v1/service",
            get(op(
                "the billing workload's certificate only (TLS)",
                &shared.service_guard,
                &[],
                false,
            )),
        )
        .path(
            "/v1/partner",
            get(op(
                "a certificate and a token bound to it (TLS)",
                &shared.partner_guard,
                &[],
                false,
            )),
        );
    let scopes = ["reports:read", "reports:write", "admin"];
    let mut components =
        ComponentsBuilder::new().security_scheme("oauth2", oauth2_scheme(issuer, &scopes));
    for guard in [&shared.guard, &shared.service_guard, &shared.partner_guard] {
        for (name, scheme) in guard.openapi_security().schemes() {
            components = components.security_scheme(name, scheme.clone());
        }
    }
    let doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("auth-stack demo")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Every method of auth-stack on one service; see DEMO.md for the contract.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build();
    doc.to_json().map(String::into_bytes).unwrap_or_default()
}
