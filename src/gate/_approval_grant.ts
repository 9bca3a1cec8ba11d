/**
 * Approval grants: a compact JWS (EdDSA, signed with the gateway key) over
 * the approval id, binding, approver and expiry, so a second gateway sharing
 * the key can verify an approval without the store.
 *
 * Private to `src/gate`; import from `approvals.ts`.
 *
 * @module
 */
import { jwtVerify, type JWTVerifyGetKey, SignJWT } from "jose";
import { z } from "zod";
import { approvalIdSchema, type ApprovalRecord } from "./_approval_store.ts";

/** The key grants are signed with: the gateway key (`loadOrCreateGatewayKey`) fits. */
export interface GrantKey {
  /** Key id, written to the JWS header. */
  readonly kid: string;
  /** Ed25519 private key. */
  readonly privateKey: CryptoKey;
}

/** Header `typ` of a grant; a gateway access token never carries it. */
export const GRANT_TYPE = "tailops-approval+jwt";
/** Audience of a grant, so it can never pass as an access token. */
export const GRANT_AUDIENCE = "tailops:approval";

/** The claims a grant carries. */
export const grantClaimsSchema = z.object({
  approval_id: approvalIdSchema,
  binding: z.string().regex(/^[0-9a-f]{64}$/),
  approver: z.string().min(1).max(512),
  /** The policy rule that asked for approval. */
  rule: z.string().max(64).optional(),
  exp: z.number().int(),
});

/** A verified grant's claims. */
export type GrantClaims = z.infer<typeof grantClaimsSchema>;

/**
 * Signs a grant for an approved request.
 *
 * @param approval The approved record (`decided_by` is the approver).
 * @param options The signing key and the current instant.
 * @returns A compact JWS (EdDSA) expiring with the approval.
 */
export async function signGrant(
  approval: ApprovalRecord,
  options: { key: GrantKey; now: Date },
): Promise<string> {
  return await new SignJWT({
    approval_id: approval.id,
    binding: approval.binding,
    approver: approval.decided_by ?? "",
    rule: approval.rule,
  })
    .setProtectedHeader({ alg: "EdDSA", kid: options.key.kid, typ: GRANT_TYPE })
    .setAudience(GRANT_AUDIENCE)
    .setIssuedAt(Math.floor(options.now.getTime() / 1000))
    .setExpirationTime(Math.floor(Date.parse(approval.expires) / 1000))
    .sign(options.key.privateKey);
}

function grantFailure(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return "the grant has expired";
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "the grant's signature does not verify with the gateway key";
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return "no gateway key matches the grant's key id";
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "the grant is not signed with EdDSA";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return `the grant's ${(error as { claim?: string }).claim ?? "claims"} claim is not valid`;
    default:
      return "it is not a valid approval grant";
  }
}

/**
 * Verifies a grant without the store: signature (EdDSA), type, audience,
 * expiry at `now`, and that it binds exactly this call.
 *
 * @param jws The compact JWS.
 * @param publicKey The gateway's public key, or a key set from `createLocalJWKSet(publicJwks)`.
 * @param options The binding of the call being made (see {@linkcode computeBinding}) and the instant.
 * @returns The claims, or a sentence saying why the grant is refused.
 */
export async function verifyGrant(
  jws: string,
  publicKey: CryptoKey | JWTVerifyGetKey,
  options: { binding: string; now: Date },
): Promise<{ ok: true; grant: GrantClaims } | { ok: false; reason: string }> {
  const verify = {
    algorithms: ["EdDSA"],
    typ: GRANT_TYPE,
    audience: GRANT_AUDIENCE,
    currentDate: options.now,
    requiredClaims: ["exp"],
  };
  let payload: unknown;
  try {
    payload = typeof publicKey === "function"
      ? (await jwtVerify(jws, publicKey, verify)).payload
      : (await jwtVerify(jws, publicKey, verify)).payload;
  } catch (error) {
    return { ok: false, reason: `Cannot accept the approval grant: ${grantFailure(error)}` };
  }
  const claims = grantClaimsSchema.safeParse(payload);
  if (!claims.success) {
    return {
      ok: false,
      reason: "Cannot accept the approval grant: expected approval_id, binding and approver claims",
    };
  }
  if (claims.data.binding !== options.binding) {
    return {
      ok: false,
      reason:
        `Cannot accept the approval grant for ${claims.data.approval_id}: it was granted for a different call`,
    };
  }
  return { ok: true, grant: claims.data };
}
