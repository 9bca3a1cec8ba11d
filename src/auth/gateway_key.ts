/**
 * The gateway's own signing key: Ed25519, stored as JWK in `STATE/keys/`.
 * It signs gateway tokens (and, later, approval grants). Rotation keeps the
 * old public keys so tokens signed before a rotation still verify.
 *
 * @module
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { z } from "zod";
import { createPrivateFile, ensurePrivateDir, readPrivateFile, writePrivateFile } from "./_fs.ts";

/** How many old public keys rotation keeps for verification. */
export const RETAINED_KEYS = 5;

/** The gateway's signing key, loaded. */
export interface GatewayKey {
  /** Key id: the RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  /** Signing algorithm. */
  readonly alg: "EdDSA";
  /** Signs tokens; never leaves the process. */
  readonly privateKey: CryptoKey;
  /** Verifies tokens signed with the current key. */
  readonly publicKey: CryptoKey;
  /** Public keys that verify gateway signatures: the current key first, then retained old keys. */
  readonly publicJwks: readonly JWK[];
}

const publicJwkSchema = z.object({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  kid: z.string().min(1).max(128),
  alg: z.literal("EdDSA"),
  use: z.literal("sig"),
});
const privateJwkSchema = publicJwkSchema.extend({ d: z.string().regex(/^[A-Za-z0-9_-]{43}$/) });
const retainedSchema = z.object({ keys: z.array(publicJwkSchema).max(RETAINED_KEYS) });

type PrivateJwk = z.infer<typeof privateJwkSchema>;

const paths = (stateDir: string) => ({
  dir: `${stateDir}/keys`,
  current: `${stateDir}/keys/gateway.jwk.json`,
  retained: `${stateDir}/keys/retained.jwks.json`,
});

async function generate(): Promise<PrivateJwk> {
  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x });
  return privateJwkSchema.parse({ ...jwk, kid, alg: "EdDSA", use: "sig" });
}

function publicPart({ d: _d, ...jwk }: PrivateJwk): JWK {
  return jwk;
}

function parseJson<T>(schema: z.ZodType<T>, text: string, file: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`Cannot read ${JSON.stringify(file)}: expected JSON, found invalid text`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new Error(`Cannot read ${JSON.stringify(file)}: expected an Ed25519 JWK document`);
  }
  return result.data;
}

async function readRetained(file: string): Promise<JWK[]> {
  const text = await readPrivateFile(file);
  return text === undefined ? [] : parseJson(retainedSchema, text, file).keys;
}

/**
 * Loads the gateway key from `STATE/keys/`, creating it on first use.
 *
 * Needs `read` and `write` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @returns The loaded key with the public keys that verify its signatures.
 * @throws {Error} When a key file is malformed or readable by group or others.
 */
export async function loadOrCreateGatewayKey(stateDir: string): Promise<GatewayKey> {
  const file = paths(stateDir);
  await ensurePrivateDir(file.dir);
  let text = await readPrivateFile(file.current);
  if (text === undefined) {
    await createPrivateFile(file.current, JSON.stringify(await generate()));
    text = await readPrivateFile(file.current);
    if (text === undefined) throw new Error(`Cannot create ${JSON.stringify(file.current)}`);
  }
  const jwk = parseJson(privateJwkSchema, text, file.current);
  const retained = await readRetained(file.retained);
  const privateKey = await importJWK(jwk, "EdDSA") as CryptoKey;
  const publicKey = await importJWK(publicPart(jwk), "EdDSA") as CryptoKey;
  return Object.freeze({
    kid: jwk.kid,
    alg: "EdDSA",
    privateKey,
    publicKey,
    publicJwks: Object.freeze([publicPart(jwk), ...retained.filter((k) => k.kid !== jwk.kid)]),
  });
}

/**
 * Replaces the gateway key with a new one. The old private key is destroyed;
 * its public key is kept (up to {@linkcode RETAINED_KEYS}) so tokens it signed
 * still verify until they expire or are revoked.
 *
 * Needs `read` and `write` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @returns The new key.
 * @throws {Error} When a key file is malformed or readable by group or others.
 */
export async function rotateGatewayKey(stateDir: string): Promise<GatewayKey> {
  const old = await loadOrCreateGatewayKey(stateDir);
  const file = paths(stateDir);
  const keys = [...old.publicJwks].slice(0, RETAINED_KEYS);
  await writePrivateFile(file.retained, JSON.stringify({ keys }));
  await writePrivateFile(file.current, JSON.stringify(await generate()));
  return await loadOrCreateGatewayKey(stateDir);
}

/** The audit log's signing key (Ed25519): signs the chain head in checkpoint records. */
export interface AuditKey {
  /** Key id: the RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  /** Signs checkpoints; never leaves the process. */
  readonly privateKey: CryptoKey;
  /** The public key as `tailops audit key` prints it (kty, crv, x, kid, alg, use). */
  readonly publicJwk: JWK;
}

/**
 * Loads the audit signing key from `STATE/keys/audit.jwk.json`, creating it
 * on first use. It is a key of its own, not the gateway key: `token
 * rotate-key` (a response to a leaked token key) must not change the key
 * that old checkpoints are verified with, and a signature made for the audit
 * log means nothing as a token.
 *
 * Needs `read` and `write` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @returns The key.
 * @throws {Error} When the key file is malformed or readable by group or others.
 */
export async function loadOrCreateAuditKey(stateDir: string): Promise<AuditKey> {
  const dir = paths(stateDir).dir;
  const file = `${dir}/audit.jwk.json`;
  await ensurePrivateDir(dir);
  let text = await readPrivateFile(file);
  if (text === undefined) {
    await createPrivateFile(file, JSON.stringify(await generate()));
    text = await readPrivateFile(file);
    if (text === undefined) throw new Error(`Cannot create ${JSON.stringify(file)}`);
  }
  const jwk = parseJson(privateJwkSchema, text, file);
  return Object.freeze({
    kid: jwk.kid,
    privateKey: await importJWK(jwk, "EdDSA") as CryptoKey,
    publicJwk: Object.freeze(publicPart(jwk)),
  });
}
