/**
 * The `tools/list` byte budget: every tool definition is read by the model
 * in every conversation, so the catalogue has a ceiling that a test and the
 * bench hold it to.
 *
 * @module
 */
import type { Tool } from "./sdk.ts";

/** Most bytes the whole catalogue's `tools/list` result may take, and any one tool. */
export const TOOL_LIST_BUDGET = { totalBytes: 64 * 1024, toolBytes: 3 * 1024 } as const;

/** Sizes of one `tools/list` result. */
export interface ToolListSize {
  /** Bytes of `{"tools":[...]}` as JSON (UTF-8). */
  readonly bytes: number;
  /** A rough token count: bytes ÷ 4, the usual ratio for English JSON. */
  readonly tokens: number;
  /** The largest tool and its bytes. */
  readonly largest: { readonly name: string; readonly bytes: number };
}

const encoder = new TextEncoder();

/**
 * Measures a `tools/list` result.
 *
 * @param tools The tool definitions, as listed.
 * @returns Total bytes, estimated tokens and the largest tool.
 */
export function measureToolList(tools: readonly Tool[]): ToolListSize {
  const bytes = encoder.encode(JSON.stringify({ tools })).byteLength;
  let largest = { name: "", bytes: 0 };
  for (const tool of tools) {
    const size = encoder.encode(JSON.stringify(tool)).byteLength;
    if (size > largest.bytes) largest = { name: tool.name, bytes: size };
  }
  return { bytes, tokens: Math.ceil(bytes / 4), largest };
}
