/**
 * The HTTP operation family, frozen, for the catalog.
 *
 * @module
 */
import { HTTP_HEALTH, HTTP_REQUEST } from "./http.ts";
import type { Operation } from "./operation.ts";

/** Every HTTP target operation: `http_request`, `http_health`. */
export const HTTP_OPERATIONS: readonly Operation[] = Object.freeze([
  HTTP_REQUEST,
  HTTP_HEALTH,
]);
