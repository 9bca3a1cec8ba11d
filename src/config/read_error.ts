/**
 * Plain words for why a file could not be read, without the raw OS message.
 *
 * @module
 */

/**
 * Describes a failed file read for a user.
 *
 * @param error What `Deno.readTextFile` and friends threw.
 * @returns A short reason, e.g. `"the file does not exist"`.
 */
export function describeReadError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "the file does not exist";
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return "permission denied";
  }
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return "it cannot be read";
}
