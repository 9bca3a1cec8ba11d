/**
 * Base64url without padding (RFC 4648 §5), for tokens and key ids.
 *
 * @module
 */
import { base64url } from "jose";

/**
 * Encodes bytes as unpadded base64url.
 *
 * @param bytes The bytes.
 * @returns The encoded text.
 */
export function encodeBase64Url(bytes: Uint8Array): string {
  return base64url.encode(bytes);
}

/**
 * Hex encoding of bytes, for cache keys and ledger ids.
 *
 * @param bytes The bytes.
 * @returns Lowercase hex.
 */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
