/**
 * Headers the HTTP executor sets itself, so neither a target's configuration
 * nor a caller may set them. Pure; imported by the registry schema and the
 * HTTP worker alike.
 *
 * @module
 */

/** Lowercase names of headers the HTTP executor owns. */
export const RESERVED_HTTP_HEADERS: ReadonlySet<string> = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "keep-alive",
  "expect",
  "accept-encoding",
  "proxy-authorization",
  "proxy-connection",
]);
