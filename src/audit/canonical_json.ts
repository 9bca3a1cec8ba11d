/**
 * Canonical JSON and SHA-256: the one place the project turns a value into
 * bytes for hashing. Audit record hashes, plan digests and approval bindings
 * all import from here, so the same value always hashes the same way.
 *
 * The output follows RFC 8785 (JCS) for the values JSON can hold: object keys
 * sorted by UTF-16 code units at every depth, no whitespace, strings and
 * numbers written as `JSON.stringify` writes them.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

/** A value JSON can hold; what {@linkcode canonicalJson} writes and `redact` returns. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** Nesting deeper than this is refused, so hostile input cannot exhaust the stack. */
export const CANONICAL_MAX_DEPTH = 256;

/**
 * Writes a value as canonical JSON.
 *
 * Object fields whose value is `undefined` are dropped; `undefined` inside an
 * array becomes `null` (as with `JSON.stringify`). Objects with a `toJSON`
 * method (`Date`, `Secret`) are written as what that method returns.
 *
 * @example
 * ```ts
 * canonicalJson({ b: [1, "x"], a: { d: true, c: null } });
 * // '{"a":{"c":null,"d":true},"b":[1,"x"]}'
 * ```
 *
 * @param value A JSON-compatible value.
 * @returns The canonical text.
 * @throws {RangeError} When a number is `NaN` or infinite, or nesting exceeds
 * {@linkcode CANONICAL_MAX_DEPTH}.
 * @throws {TypeError} When the value holds a bigint, function or symbol, or refers to itself.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts, new Set(), []);
  return parts.join("");
}

/** Where {@linkcode write} puts its text: an array, or a hash fed as it goes. */
interface Sink {
  push(...parts: string[]): unknown;
  /** Writes a string value as JSON; without it the string is written with `JSON.stringify`. */
  string?(value: string): void;
}

/** `$.a[0]`-style text of the keys leading to a value (built only for an error message). */
function pathOf(keys: readonly (string | number)[]): string {
  return "$" + keys.map((key) => typeof key === "number" ? `[${key}]` : `.${key}`).join("");
}

/**
 * Writes one value. `keys` is the path to it, shared and pushed/popped as
 * the walk goes, so no path text is built unless something fails.
 */
function write(value: unknown, out: Sink, stack: Set<object>, keys: (string | number)[]): void {
  if (
    value !== null && typeof value === "object" && typeof (value as Jsonable).toJSON === "function"
  ) {
    value = (value as Jsonable).toJSON();
  }
  switch (typeof value) {
    case "string":
      if (out.string) out.string(value);
      else out.push(JSON.stringify(value));
      return;
    case "boolean":
      out.push(JSON.stringify(value));
      return;
    case "number":
      if (!Number.isFinite(value)) {
        throw new RangeError(
          `Cannot write canonical JSON: expected a finite number at ${
            pathOf(keys)
          }, found ${value}`,
        );
      }
      out.push(JSON.stringify(value));
      return;
    case "object":
      break;
    default:
      throw new TypeError(
        `Cannot write canonical JSON: expected a JSON value at ${
          pathOf(keys)
        }, found a ${typeof value}`,
      );
  }
  if (value === null) {
    out.push("null");
    return;
  }
  if (stack.has(value)) {
    throw new TypeError(
      `Cannot write canonical JSON: expected a tree at ${pathOf(keys)}, found a cycle`,
    );
  }
  if (stack.size >= CANONICAL_MAX_DEPTH) {
    throw new RangeError(
      `Cannot write canonical JSON: expected nesting of at most ${CANONICAL_MAX_DEPTH} levels, found more at ${
        pathOf(keys)
      }`,
    );
  }
  stack.add(value);
  if (Array.isArray(value)) {
    out.push("[");
    for (let index = 0; index < value.length; index++) {
      if (index > 0) out.push(",");
      const item = value[index];
      keys.push(index);
      write(item === undefined ? null : item, out, stack, keys);
      keys.pop();
    }
    out.push("]");
  } else {
    const record = value as Record<string, unknown>;
    // Default sort compares UTF-16 code units, exactly as RFC 8785 asks.
    const names = Object.keys(record).filter((key) => record[key] !== undefined).sort();
    out.push("{");
    names.forEach((key, index) => {
      if (index > 0) out.push(",");
      out.push(JSON.stringify(key), ":");
      keys.push(key);
      write(record[key], out, stack, keys);
      keys.pop();
    });
    out.push("}");
  }
  stack.delete(value);
}

interface Jsonable {
  toJSON(): unknown;
}

/**
 * SHA-256 of text (encoded as UTF-8) or bytes, as lowercase hex, computed
 * synchronously. `node:crypto`'s hash runs in the calling thread (~1 µs for a
 * record); `crypto.subtle.digest` hops to a thread pool and back (~25-40 µs
 * here), and a call hashes four or five times.
 *
 * @param data Text or bytes.
 * @returns 64 lowercase hex digits.
 */
export function sha256HexSync(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * SHA-256 of text (encoded as UTF-8) or bytes, as lowercase hex.
 *
 * @example
 * ```ts
 * await sha256Hex(canonicalJson(plan)); // the plan digest
 * ```
 *
 * @param data Text or bytes.
 * @returns 64 lowercase hex digits.
 */
export function sha256Hex(data: string | Uint8Array): Promise<string> {
  return Promise.resolve(sha256HexSync(data));
}

/**
 * SHA-256 of a value's canonical JSON, as lowercase hex. Use for plan digests
 * and approval bindings.
 *
 * @param value A JSON-compatible value.
 * @returns 64 lowercase hex digits.
 * @throws {RangeError} (as a rejection) As {@linkcode canonicalJson}.
 * @throws {TypeError} (as a rejection) As {@linkcode canonicalJson}.
 */
export function canonicalDigest(value: unknown): Promise<string> {
  try {
    return Promise.resolve(sha256HexSync(canonicalJson(value)));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Text gathered before it is hashed: fewer, larger hash updates. */
const DIGEST_CHUNK = 64 * 1024;

/**
 * SHA-256 and UTF-8 length of a value's canonical JSON, computed as the text
 * is written, so a large value's text is never held whole (a call's output
 * digest in its `finished` record).
 *
 * @param value A JSON-compatible value.
 * @returns 64 lowercase hex digits and the canonical text's length in UTF-8 bytes.
 * @throws {RangeError} As {@linkcode canonicalJson}.
 * @throws {TypeError} As {@linkcode canonicalJson}.
 */
export function canonicalJsonDigest(value: unknown): { digest: string; bytes: number } {
  const hash = createHash("sha256");
  let bytes = 0;
  let pending = "";
  const flush = (text: string) => {
    hash.update(text);
    bytes += Buffer.byteLength(text, "utf8");
  };
  const sink: Sink = {
    // A long string is escaped a slice at a time, never whole. Slices do not
    // split a surrogate pair: JSON.stringify escapes a lone surrogate.
    string(value: string) {
      if (value.length < DIGEST_CHUNK) return void sink.push(JSON.stringify(value));
      sink.push('"');
      for (let at = 0; at < value.length;) {
        let end = Math.min(value.length, at + DIGEST_CHUNK);
        const last = value.charCodeAt(end - 1);
        if (end < value.length && last >= 0xd800 && last <= 0xdbff) end--;
        sink.push(JSON.stringify(value.slice(at, end)).slice(1, -1));
        at = end;
      }
      sink.push('"');
    },
    push(...parts: string[]) {
      for (const part of parts) {
        if (part.length >= DIGEST_CHUNK) {
          if (pending !== "") flush(pending);
          pending = "";
          flush(part);
        } else {
          pending += part;
          if (pending.length >= DIGEST_CHUNK) {
            flush(pending);
            pending = "";
          }
        }
      }
    },
  };
  write(value, sink, new Set(), []);
  if (pending !== "") flush(pending);
  return { digest: hash.digest("hex"), bytes };
}
