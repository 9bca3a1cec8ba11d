/**
 * Signed checkpoints of the audit chain: what is signed, how a signature is
 * made and checked, and the public key format `tailops audit key` prints and
 * `tailops audit verify --key` reads.
 *
 * The hash chain alone shows an edit but not a rewrite: whoever can write the
 * file can recompute every hash, or cut records off the end. A checkpoint
 * signs the chain head with a key the file's writer does not hold, and a copy
 * shipped off the host (webhook, syslog) pins the head where the host cannot
 * reach it.
 *
 * @module
 */
import { z } from "zod";
import { canonicalJson, sha256HexSync } from "./canonical_json.ts";
import type { AuditRecord, Checkpoint } from "./record.ts";

/** Signs checkpoint payloads; the private key never leaves it. */
export interface CheckpointSigner {
  /** The key id written into each checkpoint (RFC 7638 thumbprint). */
  readonly kid: string;
  /**
   * Signs bytes with Ed25519.
   *
   * @param data The payload from {@linkcode checkpointPayload}.
   * @returns The 64-byte signature.
   */
  sign(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array>;
}

/** When and how the writer signs checkpoints. */
export interface CheckpointOptions {
  /** The signing key. */
  readonly signer: CheckpointSigner;
  /** A checkpoint after at most this many records. Default {@linkcode DEFAULT_CHECKPOINT_RECORDS}. */
  readonly everyRecords?: number;
  /**
   * A checkpoint this long after the first record it does not yet cover.
   * Default {@linkcode DEFAULT_CHECKPOINT_MS}.
   */
  readonly everyMs?: number;
  /** Called with each checkpoint record once it is durable (to ship it off the host). */
  readonly onCheckpoint?: (record: AuditRecord) => void;
}

/** Default of {@linkcode CheckpointOptions.everyRecords}. */
export const DEFAULT_CHECKPOINT_RECORDS = 1000;
/** Default of {@linkcode CheckpointOptions.everyMs}. */
export const DEFAULT_CHECKPOINT_MS = 60_000;

const DOMAIN = "tailops-audit-checkpoint/v1\n";
const encoder = new TextEncoder();

/**
 * The exact bytes a checkpoint signs: a domain string (so the signature means
 * nothing elsewhere) and the canonical JSON of the head, the `final` flag and
 * the key id.
 *
 * @param head The head signed and how it was signed.
 * @returns The payload.
 */
export function checkpointPayload(
  head: { seq: number; head: string; final: boolean; kid: string },
): Uint8Array<ArrayBuffer> {
  return encoder.encode(
    DOMAIN + canonicalJson({ seq: head.seq, head: head.head, final: head.final, kid: head.kid }),
  );
}

/**
 * Signs a chain head.
 *
 * @param signer The audit key.
 * @param head The `seq` and `hash` of the last record, and whether the log is closing.
 * @returns The checkpoint field of a `checkpoint` record.
 */
export async function signCheckpoint(
  signer: CheckpointSigner,
  head: { seq: number; head: string; final: boolean },
): Promise<Checkpoint> {
  const body = { ...head, kid: signer.kid };
  const sig = await signer.sign(checkpointPayload(body));
  return { ...body, sig: toBase64Url(sig) };
}

/** An Ed25519 public key in JWK form, as `tailops audit key` prints it. */
export const auditPublicJwkSchema = z.object({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  kid: z.string().min(1).max(128).optional(),
});

/** A public key that verifies checkpoints. */
export interface CheckpointVerifier {
  /** The key's id (RFC 7638 thumbprint). */
  readonly kid: string;
  /**
   * Checks a signature over a head.
   *
   * @param head The recomputed head, and the checkpoint's `final` flag.
   * @param sig The checkpoint's signature (base64url).
   * @returns Whether the signature is this key's over exactly that head.
   */
  verify(head: { seq: number; head: string; final: boolean }, sig: string): Promise<boolean>;
}

/**
 * RFC 7638 thumbprint of an Ed25519 public key (its `kid`).
 *
 * @param x The key's `x` (base64url).
 * @returns base64url SHA-256 of the canonical required members.
 */
export function ed25519Thumbprint(x: string): string {
  const hex = sha256HexSync(canonicalJson({ crv: "Ed25519", kty: "OKP", x }));
  return toBase64Url(Uint8Array.from(hex.match(/../g)!, (byte) => parseInt(byte, 16)));
}

/**
 * Reads a public key given to `audit verify --key`: a JWK (as `tailops audit
 * key` prints it), a JWK set (`{"keys": [...]}`, the first key), or the raw
 * 43-character base64url `x`.
 *
 * @param text The key text.
 * @returns A verifier for checkpoints.
 * @throws {TypeError} When the text is not an Ed25519 public key.
 */
export async function importCheckpointKey(text: string): Promise<CheckpointVerifier> {
  const trimmed = text.trim();
  let candidate: unknown;
  if (/^[A-Za-z0-9_-]{43}$/.test(trimmed)) {
    candidate = { kty: "OKP", crv: "Ed25519", x: trimmed };
  } else {
    try {
      candidate = JSON.parse(trimmed);
    } catch {
      throw new TypeError("Expected an Ed25519 public key (JWK JSON), found text that is not JSON");
    }
    if (candidate !== null && typeof candidate === "object" && "keys" in candidate) {
      candidate = (candidate as { keys: unknown[] }).keys?.[0];
    }
  }
  const parsed = auditPublicJwkSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new TypeError(
      'Expected an Ed25519 public key (a JWK with kty "OKP", crv "Ed25519" and x), found another value',
    );
  }
  const { x } = parsed.data;
  const kid = ed25519Thumbprint(x);
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "OKP", crv: "Ed25519", x },
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  return {
    kid,
    async verify(head, sig) {
      let signature: Uint8Array<ArrayBuffer>;
      try {
        signature = fromBase64Url(sig);
      } catch {
        return false;
      }
      return await crypto.subtle.verify(
        { name: "Ed25519" },
        key,
        signature,
        checkpointPayload({ ...head, kid }),
      );
    },
  };
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
