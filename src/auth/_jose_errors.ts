/**
 * Turns `jose` verification errors into refusal reasons a client can read.
 * Raw library text never reaches the client.
 *
 * @module
 */
import { errors } from "jose";

/**
 * Describes why a JWT was rejected.
 *
 * @param error What `jwtVerify` threw.
 * @returns A sentence-case reason starting with "Invalid token".
 */
export function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "Invalid token: expected an unexpired token";
  if (error instanceof errors.JWTClaimValidationFailed) {
    return `Invalid token: unexpected or missing ${JSON.stringify(error.claim)} (${error.reason})`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return "Invalid token: its signature algorithm is not allowed";
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return "Invalid token: signature verification failed";
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return "Invalid token: no key of the issuer matches its key id";
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    return "Invalid token: the issuer's keys cannot be fetched";
  }
  if (error instanceof errors.JOSEError) return "Invalid token: expected a well-formed signed JWT";
  return "Invalid token: it cannot be verified";
}
