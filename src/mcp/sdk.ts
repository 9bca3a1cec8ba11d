/**
 * The MCP SDK (v2: `@modelcontextprotocol/server`) as the gateway uses it.
 * Import the SDK's server pieces from here only, so one module shows what
 * the gateway depends on. (The client packages stay out of server code; the
 * stdio entry is in `sdk_stdio.ts`, loaded only by stdio serving.)
 *
 * @module
 */
export {
  acceptedContent,
  CLIENT_CAPABILITIES_META_KEY,
  createMcpHandler,
  inputRequired,
  isLegacyRequest,
  LOG_LEVEL_META_KEY,
  McpServer,
  parseJSONRPCMessage,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  ResourceTemplate,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
export type {
  AuthInfo,
  CallToolResult,
  ClientCapabilities,
  InputRequiredResult,
  JSONRPCMessage,
  McpRequestContext,
  MessageExtraInfo,
  ReadResourceResult,
  Resource,
  ServerContext,
  Tool,
  Transport,
  TransportSendOptions,
} from "@modelcontextprotocol/server";
