/**
 * Test helper: a fresh Ed25519 audit signer and its public key text.
 *
 * @module
 */
import { type CheckpointSigner, ed25519Thumbprint } from "../../src/audit/checkpoint.ts";

/** A signer for tests, with the public JWK as `tailops audit key` prints it. */
export interface TestKey {
  signer: CheckpointSigner;
  publicJwk: string;
}

/**
 * Generates a key pair.
 *
 * @returns The signer and its public key.
 */
export async function testKey(): Promise<TestKey> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const kid = ed25519Thumbprint(jwk.x!);
  return {
    signer: {
      kid,
      sign: async (data) =>
        new Uint8Array(
          await crypto.subtle.sign(
            { name: "Ed25519" },
            pair.privateKey,
            data as Uint8Array<ArrayBuffer>,
          ),
        ),
    },
    publicJwk: JSON.stringify({ kty: "OKP", crv: "Ed25519", x: jwk.x, kid }),
  };
}
