/**
 * The SDK's stdio entry: picks the protocol era from a connection's first
 * message and serves it with one server from a factory. Kept apart from
 * `sdk.ts` so HTTP serving does not load it.
 *
 * @module
 */
export { serveStdio, StdioServerTransport } from "@modelcontextprotocol/server/stdio";
export type { StdioServerHandle } from "@modelcontextprotocol/server/stdio";
