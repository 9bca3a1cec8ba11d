/**
 * Request paths that try to reach something outside a path allowlist such as
 * `/api/**` on some upstream, by class; shared by the unit and gateway tests.
 *
 * @module
 */

/** Paths that could reach something outside `/api/**` on some upstream, by class. */
export const SMUGGLED_PATHS: Readonly<Record<string, readonly string[]>> = {
  "path parameters": ["/api/..;/admin", "/api/;/admin", "/api/x;jsessionid=1", "/api;x/../admin"],
  "encoded separators": [
    "/api/..%2fadmin",
    "/api/..%2Fadmin",
    "/api%2f..%2fadmin",
    "/api/..%5cadmin",
    "/api/..%5Cadmin",
  ],
  "dot segments": [
    "/api/../admin",
    "/api/./x",
    "/api/...",
    "/api/%2e%2e/admin",
    "/api/%2E%2e/admin",
    "/api/.%2e/admin",
    "/api/%2e./admin",
    "/api/%2e/x",
  ],
  "double encoding": ["/api/%252e%252e/admin", "/api/%252fadmin", "/api/%25/x"],
  "overlong UTF-8": ["/api/%c0%ae%c0%ae/admin", "/api/%c0%af", "/api/%e0%80%ae", "/api/%ff"],
  "Unicode look-alikes": [
    "/api/%ef%bc%8e%ef%bc%8e/admin",
    "/api/..%ef%bc%8fadmin",
    "/api/%e2%80%a5/admin",
    "/api/%e2%80%a4/x",
  ],
  backslashes: ["/api/..\\admin", "/api\\..\\admin", "/api/\\\\x"],
  "control characters": [
    "/api/%00/x",
    "/api/x%00.json",
    "/api/x\u0000",
    "/api/x%0d%0aHost:%20evil",
    "/api/x\r\nHost: evil",
    "/api/x%09",
    "/api/x%7f",
  ],
  "query or fragment smuggling": ["/api/x%3f/admin", "/api/x%23", "/api/x?y", "/api/x#y"],
  "broken escapes": ["/api/%", "/api/%2", "/api/%zz"],
  "empty segments": ["/api//admin", "//evil.example/api"],
};
