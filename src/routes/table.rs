//! The route table: every route the API serves, by method and path pattern. Route modules add
//! theirs here; [`configure`](super::configure) registers the table with actix-web, and the API
//! description (`crate::openapi`) is checked against the same table, so no route can be served
//! without being described, nor described without being served.

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};

/// Every route, grouped by resource (the paths that share handlers).
#[derive(Default)]
pub struct RouteTable {
    resources: Vec<Resource>,
}

/// One resource: its path patterns (the first is the one described; the others are aliases,
/// such as a collection without its trailing slash) and a handler per method.
pub struct Resource {
    paths: Vec<&'static str>,
    routes: Vec<(Method, actix_web::Route)>,
}

impl RouteTable {
    /// The resource at `paths` (the first is the described one).
    pub fn at<const N: usize>(&mut self, paths: [&'static str; N]) -> &mut Resource {
        self.resources.push(Resource { paths: paths.to_vec(), routes: Vec::new() });
        self.resources.last_mut().expect("just pushed")
    }

    /// Every (method, described path) pair.
    pub fn routes(&self) -> Vec<(Method, &'static str)> {
        self.resources
            .iter()
            .flat_map(|resource| resource.routes.iter().map(|(method, _)| (method.clone(), resource.paths[0])))
            .collect()
    }

    /// Registers every resource with actix-web.
    pub fn register(self, cfg: &mut web::ServiceConfig) {
        for resource in self.resources {
            let mut registered = web::resource(resource.paths);
            for (_, route) in resource.routes {
                registered = registered.route(route);
            }
            cfg.service(registered);
        }
    }
}

macro_rules! method {
    ($name:ident, $method:ident, $route:ident) => {
        #[doc = concat!("Serves `", stringify!($method), "` with `handler`.")]
        pub fn $name<F, Args>(&mut self, handler: F) -> &mut Self
        where
            F: Handler<Args>,
            Args: FromRequest + 'static,
            F::Output: Responder + 'static,
        {
            self.routes.push((Method::$method, web::$route().to(handler)));
            self
        }
    };
}

impl Resource {
    method!(get, GET, get);
    method!(post, POST, post);
    method!(put, PUT, put);
    method!(patch, PATCH, patch);
    method!(delete, DELETE, delete);
}
