//! KMS providers: request builders and response parsers for each service.
//! All sans-IO: they produce `HttpRequest`s and parse `HttpResponse`s.

pub mod aws;
