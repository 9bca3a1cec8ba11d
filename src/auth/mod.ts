/**
 * Authentication for the HTTP transport: the gateway key, gateway tokens,
 * OAuth 2.1 / OIDC access tokens, Tailscale identity, the bootstrap admin
 * token, and the bindings that turn a principal into the gate's identity.
 * Pure Web `Request` in, data out: the HTTP layer decides how to send it.
 *
 * @module
 */
export * from "./authenticator.ts";
export * from "./bindings.ts";
export * from "./bootstrap_token.ts";
export * from "./challenge.ts";
export * from "./gateway_key.ts";
export * from "./metadata.ts";
export * from "./types.ts";
export * from "./gateway_tokens.ts";
export * from "./tailscale.ts";
export * from "./selftest.ts";
