/**
 * The `requestState` of a confirmation round (MCP 2026-07-28 input-required
 * results, and the SDK's shim that turns them into elicitation on 2025-era
 * connections): a compact JWS signed with the gateway key, naming the
 * requester, the tool and the pending approval, expiring with it.
 *
 * The state travels through the client and comes back as untrusted input.
 * The signature proves this gateway's key set minted it (any gateway sharing
 * `STATE/keys` verifies it); the subject and method claims tie it to the
 * caller and to `tools/call`. It is never a credential: the request that
 * echoes it is authenticated on its own, and the approval store checks the
 * exact call (binding) and single use when the approval is consumed.
 *
 * @module
 */
import { jwtVerify, type JWTVerifyGetKey, SignJWT } from "jose";
import { z } from "zod";

/** Header `typ` of a request state; no token or grant carries it. */
const STATE_TYPE = "tailops-request-state+jwt";
/** Audience of a request state, so it can never pass as an access token or grant. */
const STATE_AUDIENCE = "tailops:mcp-request-state";

const claimsSchema = z.object({
  sub: z.string().min(1).max(512),
  method: z.literal("tools/call"),
  tool: z.string().min(1).max(128),
  approval_id: z.string().min(1).max(128),
  exp: z.number().int(),
});

/** What a verified confirmation state says. */
export interface ConfirmState {
  /** The requester's subject. */
  readonly subject: string;
  /** The tool the approval was asked for. */
  readonly tool: string;
  /** The pending approval in the store. */
  readonly approvalId: string;
}

/** Mints and verifies confirmation states with the gateway key. */
export interface RequestStateSigner {
  /**
   * Signs a state for one pending approval.
   *
   * @param state Requester, tool and approval.
   * @param expires When the approval expires (the state expires with it).
   * @returns A compact JWS.
   */
  mint(state: ConfirmState, expires: Date): Promise<string>;
  /**
   * Verifies a state echoed back by a client.
   *
   * @param jws The echoed state.
   * @param expected The subject of the request echoing it, and its method.
   * @returns The state.
   * @throws {Error} Saying why the state is refused (bad signature, expired, another subject).
   */
  verify(jws: string, expected: { subject: string; method: string }): Promise<ConfirmState>;
}

/**
 * A signer over the gateway key and the public keys that verify it (the
 * current one and retained predecessors, so rotation does not break a round
 * in progress).
 *
 * @param key The gateway's signing key and its id.
 * @param publicKeys The gateway's public key set.
 * @param now The clock (tests inject one).
 * @returns The signer.
 */
export function requestStateSigner(
  key: { readonly kid: string; readonly privateKey: CryptoKey },
  publicKeys: JWTVerifyGetKey,
  now: () => Date = () => new Date(),
): RequestStateSigner {
  return {
    async mint(state, expires) {
      return await new SignJWT({
        method: "tools/call",
        tool: state.tool,
        approval_id: state.approvalId,
      })
        .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: STATE_TYPE })
        .setSubject(state.subject)
        .setAudience(STATE_AUDIENCE)
        .setExpirationTime(Math.floor(expires.getTime() / 1000))
        .sign(key.privateKey);
    },
    async verify(jws, expected) {
      const { payload } = await jwtVerify(jws, publicKeys, {
        algorithms: ["EdDSA"],
        typ: STATE_TYPE,
        audience: STATE_AUDIENCE,
        currentDate: now(),
        requiredClaims: ["exp", "sub"],
      });
      const claims = claimsSchema.parse(payload);
      if (claims.sub !== expected.subject) {
        throw new Error(`request state minted for ${claims.sub}, echoed by ${expected.subject}`);
      }
      if (claims.method !== expected.method) {
        throw new Error(`request state minted for ${claims.method}, echoed on ${expected.method}`);
      }
      return { subject: claims.sub, tool: claims.tool, approvalId: claims.approval_id };
    },
  };
}
