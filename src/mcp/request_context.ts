/**
 * The transport's information about the request being handled, for code the
 * SDK calls without it: a resource template's completion callback gets only
 * the typed value, yet must answer as the identity of that very request.
 * The request guard runs the SDK's handling of each inbound message inside
 * {@linkcode withRequestExtra}; everything that handling awaits sees it.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { MessageExtraInfo } from "./sdk.ts";

const current = new AsyncLocalStorage<MessageExtraInfo | undefined>();

/**
 * Runs the handling of one inbound message with its transport information.
 *
 * @param extra What the transport said about the message (its `authInfo`).
 * @param handle The SDK's handling of the message.
 * @returns What `handle` returns.
 */
export function withRequestExtra<T>(extra: MessageExtraInfo | undefined, handle: () => T): T {
  return current.run(extra, handle);
}

/**
 * The transport information of the request being handled here.
 *
 * @returns It, or `undefined` outside the handling of a request (or when it had none).
 */
export function requestExtra(): MessageExtraInfo | undefined {
  return current.getStore();
}
