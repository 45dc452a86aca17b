//! The route table: every feature module declares its routes through [`Routes`], which both
//! builds the axum router and records (method, path template). [`route_table`] lists them, so
//! the access-matrix test walks every route there is: a new route cannot escape it.

use std::collections::BTreeMap;

use axum::Router;
use axum::handler::Handler;
use axum::routing::MethodRouter;

use crate::AppState;

/// One route: an HTTP method and a path template (`/registries/{registry}/records/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteInfo {
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The template, with the nest prefix (`/api/v1/…`) included.
    pub path: String,
}

/// A set of routes under construction.
#[derive(Default)]
pub struct Routes {
    by_path: BTreeMap<String, MethodRouter<AppState>>,
    table: Vec<RouteInfo>,
}

macro_rules! method {
    ($name:ident, $verb:literal) => {
        /// Adds a handler for this method at `path`.
        pub fn $name<H, T>(mut self, path: &str, handler: H) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            let entry = self.by_path.remove(path).unwrap_or_default();
            self.by_path.insert(path.to_owned(), entry.$name(handler));
            self.table.push(RouteInfo { method: $verb, path: path.to_owned() });
            self
        }
    };
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    method!(get, "GET");
    method!(post, "POST");
    method!(delete, "DELETE");

    /// Adds every route of `other`.
    pub fn merge(mut self, other: Routes) -> Self {
        for (path, router) in other.by_path {
            let entry = self.by_path.remove(&path).unwrap_or_default();
            self.by_path.insert(path, entry.merge(router));
        }
        self.table.extend(other.table);
        self
    }

    /// Puts every route of `other` under `prefix` (e.g. `/api/v1`).
    pub fn nest(self, prefix: &str, other: Routes) -> Self {
        let mut nested = Routes::new();
        for (path, router) in other.by_path {
            nested.by_path.insert(format!("{prefix}{path}"), router);
        }
        nested.table =
            other.table.into_iter().map(|r| RouteInfo { path: format!("{prefix}{}", r.path), ..r }).collect();
        self.merge(nested)
    }

    /// The recorded routes.
    pub fn table(&self) -> &[RouteInfo] {
        &self.table
    }

    /// The axum router.
    pub fn into_router(self) -> Router<AppState> {
        self.by_path.into_iter().fold(Router::new(), |r, (path, m)| r.route(&path, m))
    }
}

/// Every route the application serves (besides static files), sorted.
pub fn route_table() -> Vec<RouteInfo> {
    let mut table = crate::all_routes().table().to_vec();
    table.sort();
    table
}
