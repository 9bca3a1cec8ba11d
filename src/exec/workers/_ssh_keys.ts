/**
 * Private key fix-up for ssh2 under Deno. ssh2 turns an OpenSSH ECDSA key
 * into a SEC1 PEM whose private scalar keeps SSH's mpint form (33 bytes with
 * a leading zero when the top bit is set, shorter when it has leading zero
 * bytes). OpenSSL accepts that; Deno's `node:crypto` refuses it ("invalid
 * SEC1 private key"), so about half of all ECDSA keys could not sign. We
 * rewrite the scalar to the curve's fixed width and hand ssh2 the fixed PEM.
 *
 * @module
 */
import { Buffer } from "node:buffer";
// @ts-types="@types/ssh2"
import { type ParsedKey, utils } from "ssh2";

const WIDTH: Readonly<Record<string, number>> = {
  "ecdsa-sha2-nistp256": 32,
  "ecdsa-sha2-nistp384": 48,
  "ecdsa-sha2-nistp521": 66,
};

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function readLength(der: Buffer, at: number): { length: number; next: number } {
  const first = der[at];
  if (first < 0x80) return { length: first, next: at + 1 };
  let length = 0;
  for (let i = 1; i <= (first & 0x7f); i++) length = (length << 8) | der[at + i];
  return { length, next: at + 1 + (first & 0x7f) };
}

/** Rewrites a SEC1 DER key's private scalar to `width` bytes. */
function fixSec1(der: Buffer, width: number): Buffer {
  if (der[0] !== 0x30) return der;
  const outer = readLength(der, 1);
  let at = outer.next;
  if (der[at] !== 0x02) return der;
  const version = readLength(der, at + 1);
  const versionEnd = version.next + version.length;
  at = versionEnd;
  if (der[at] !== 0x04) return der;
  const octets = readLength(der, at + 1);
  let scalar = der.subarray(octets.next, octets.next + octets.length);
  while (scalar.length > width && scalar[0] === 0) scalar = scalar.subarray(1);
  if (scalar.length > width) return der;
  const fixed = Buffer.concat([Buffer.alloc(width - scalar.length), scalar]);
  const body = Buffer.concat([
    der.subarray(outer.next, versionEnd),
    Buffer.from([0x04]),
    derLength(width),
    fixed,
    der.subarray(octets.next + octets.length, outer.next + outer.length),
  ]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/**
 * Parses a private key; for ECDSA keys, replaces the private PEM ssh2 signs
 * with (a symbol-keyed property of its parsed key) by one Deno accepts.
 *
 * @param key Private key text (OpenSSH or PEM).
 * @param passphrase Its passphrase, when encrypted.
 * @returns The parsed, decrypted key, to pass to ssh2 as `privateKey`.
 * @throws {Error} ssh2's parse error when the key or passphrase is wrong.
 */
export function usableKey(key: string, passphrase?: string): ParsedKey {
  const parsed = utils.parseKey(key, passphrase);
  if (parsed instanceof Error) throw parsed;
  const one = Array.isArray(parsed) ? parsed[0] : parsed;
  const width = WIDTH[one.type];
  const slot = Object.getOwnPropertySymbols(one).find((s) => s.description === "Private key PEM");
  if (width === undefined || slot === undefined) return one;
  const pem = one.getPrivatePEM();
  const base64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const der = fixSec1(Buffer.from(base64, "base64"), width);
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  // ssh2 keeps the PEM under a private symbol; no public API sets it.
  (one as unknown as Record<symbol, string>)[slot] = `-----BEGIN EC PRIVATE KEY-----\n${
    lines.join("\n")
  }\n-----END EC PRIVATE KEY-----\n`;
  return one;
}
