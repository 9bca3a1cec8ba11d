/**
 * The gateway's version: one home, read from deno.json.
 *
 * @module
 */
import denoConfig from "../deno.json" with { type: "json" };

/** The version in deno.json, announced by `--version` and to MCP clients. */
export const VERSION: string = denoConfig.version;
