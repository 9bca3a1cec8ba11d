/**
 * Test tokens for the self-test, signed with the gateway's own key (from its
 * state directory) or with an issuer key the caller controls. Nothing is
 * written to the ledger.
 *
 * @module
 */
import { generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { encodeBase64Url } from "./_encoding.ts";
import { readPrivateFile } from "./_fs.ts";
import { loadOrCreateGatewayKey } from "./gateway_key.ts";
import { GATEWAY_TOKEN_TYP } from "./gateway_tokens.ts";

/** An issuer key the self-test may sign OIDC-style tokens with. */
export interface SelftestIssuerKey {
  /** The issuer identifier the gateway trusts. */
  issuer: string;
  /** Its private key. */
  privateKey: CryptoKey;
  /** Its JWS algorithm, e.g. `ES256`. */
  alg: string;
  /** Its key id. */
  kid: string;
}

/** Makes the tokens the attack checks need. */
export interface TokenFactory {
  /** A correctly signed token with these claim overrides. */
  sign(claims: JWTPayload): Promise<string>;
  /** The same token signed by an unrelated key claiming the same `kid`. */
  forge(claims: JWTPayload): Promise<string>;
  /** The same token with `alg: none` and no signature. */
  unsigned(claims: JWTPayload): string;
}

/**
 * Builds a token factory from the gateway's state directory or an issuer key.
 *
 * Needs `read` permission for the state directory when one is given.
 *
 * @param resource The canonical resource URI (`aud`, and `iss` of gateway tokens).
 * @param source Where the signing key comes from.
 * @returns The factory, or `undefined` when no key is available.
 */
export async function tokenFactory(
  resource: string,
  source: { stateDir?: string; issuerKey?: SelftestIssuerKey },
): Promise<TokenFactory | undefined> {
  let key: { privateKey: CryptoKey; alg: string; kid: string; typ?: string; iss: string };
  if (source.issuerKey) {
    key = { ...source.issuerKey, iss: source.issuerKey.issuer, typ: "at+jwt" };
  } else if (source.stateDir) {
    const keyFile = `${source.stateDir}/keys/gateway.jwk.json`;
    if (await readPrivateFile(keyFile) === undefined) return undefined;
    const gateway = await loadOrCreateGatewayKey(source.stateDir);
    key = { ...gateway, typ: GATEWAY_TOKEN_TYP, iss: resource };
  } else {
    return undefined;
  }
  const now = Math.floor(Date.now() / 1000);
  const base = (claims: JWTPayload): JWTPayload => ({
    iss: key.iss,
    aud: resource,
    sub: "selftest",
    role: "selftest-no-such-role",
    jti: crypto.randomUUID(),
    iat: now,
    exp: now + 120,
    ...claims,
  });
  const header = { alg: key.alg, kid: key.kid, ...(key.typ ? { typ: key.typ } : {}) };
  const sign = (claims: JWTPayload, privateKey: CryptoKey) =>
    new SignJWT(base(claims)).setProtectedHeader(header).sign(privateKey);
  return {
    sign: (claims) => sign(claims, key.privateKey),
    async forge(claims) {
      const other = await generateKeyPair(key.alg, key.alg === "EdDSA" ? { crv: "Ed25519" } : {});
      return await sign(claims, other.privateKey);
    },
    unsigned(claims) {
      const encode = (value: unknown) =>
        encodeBase64Url(new TextEncoder().encode(JSON.stringify(value)));
      return `${encode({ ...header, alg: "none" })}.${encode(base(claims))}.`;
    },
  };
}
