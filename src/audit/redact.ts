/**
 * The one redaction function of the project. Audit records, logs and tool
 * outputs pass through here before they are written or leave the gateway.
 *
 * @module
 */
import type { JsonValue } from "./canonical_json.ts";
import { REDACTED, SecretScanner } from "./secret_scanner.ts";

export { MIN_SECRET_LENGTH, REDACTED, SecretScanner } from "./secret_scanner.ts";

/** What stands in for data cut by the depth, size or length limits. */
export const TRUNCATED = "[TRUNCATED]";

/** How {@linkcode redact} works. */
export interface RedactOptions {
  /** Known secret values (or a scanner built from them) to mask wherever they appear. */
  secrets?: readonly string[] | SecretScanner;
  /** Nesting kept; deeper values become {@linkcode TRUNCATED}. Default 32. */
  maxDepth?: number;
  /** Values (objects, arrays, scalars) kept in all; the rest become {@linkcode TRUNCATED}. Default 10 000. */
  maxNodes?: number;
  /** UTF-16 code units kept per string, after masking. Default 65 536. */
  maxStringLength?: number;
}

// Words that mark a field as sensitive, after splitting the key on `_`, `-`, `.` and camelCase.
const SENSITIVE_WORDS = new Set([
  "password",
  "passwords",
  "passwd",
  "passphrase",
  "secret",
  "secrets",
  "token",
  "apikey",
  "authorization",
  "cookie",
  "cookies",
  "privatekey",
  "bearer",
  "credential",
  "credentials",
]);
const SENSITIVE_PAIRS = [["api", "key"], ["private", "key"]];
const PEM_BEGIN = /-----BEGIN ([A-Z0-9 ]{1,64})-----/g;
const BEARER = /\b(Bearer)\s+[A-Za-z0-9\-._~+/]+=*/gi;

function keyWords(key: string): string[] {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase().split(/[^a-z0-9]+/);
}

/**
 * Whether a field name looks like it holds a credential (`password`,
 * `client_secret`, `X-Api-Key`, `accessToken`, `Set-Cookie`, …).
 *
 * @param key A field name.
 * @returns `true` when values under it must be redacted.
 */
export function isSensitiveKey(key: string): boolean {
  const words = keyWords(key);
  if (words.some((word) => SENSITIVE_WORDS.has(word))) return true;
  return SENSITIVE_PAIRS.some(([a, b]) =>
    words.some((word, i) => word === a && words[i + 1] === b)
  );
}

/**
 * The maintained list of configuration names that hold secrets: environment
 * variables, container labels, command-line options. Broader than
 * {@linkcode isSensitiveKey} (which guards tool arguments, where a field
 * called `key` is a unit name): in configuration, `DB_PASS`, `MYSQL_PWD`,
 * `API_KEY`, `AUTH`, `SENTRY_DSN` all carry credentials.
 *
 * Parts match anywhere in the name, case-insensitively (`PGPASSWORD`,
 * `GITHUBTOKEN`, `MYSECRET`); words match only whole, after splitting on
 * `_ - . / :` and camelCase (`KEY` in `API_KEY` but not `KEYBOARD` or
 * `MONKEY`; `PASS` in `DB_PASS` but not `BYPASS` or `PASSENGER`).
 */
export const SENSITIVE_NAME_PARTS: readonly string[] = [
  "password",
  "passwd",
  "passphrase",
  "secret",
  "token",
  "credential",
  "apikey",
  "accesskey",
  "privatekey",
  "signingkey",
  "encryptionkey",
  "masterkey",
  "authorization",
  "basicauth",
  "requirepass",
  "masterauth",
  "digestauth",
  "cookie",
];

/** Whole words that mark a configuration name as sensitive (see {@linkcode SENSITIVE_NAME_PARTS}). */
export const SENSITIVE_NAME_WORDS: readonly string[] = [
  "pass",
  "pw",
  "pwd",
  "pword",
  "key",
  "keys",
  "auth",
  "dsn",
  "cred",
  "creds",
  "private",
  "salt",
  "pat",
  "otp",
  "totp",
  "mnemonic",
  "seed",
  "sig",
  "htpasswd",
  "session",
  "jwt",
  "sas",
];

const NAME_WORDS = new Set(SENSITIVE_NAME_WORDS);
// A name is split into words on separators and camelCase; parts are searched in the name without separators.
const NAME_PARTS = new RegExp(SENSITIVE_NAME_PARTS.join("|"));

/**
 * Whether a configuration name (an environment variable, a label, an
 * option) holds a secret, by the maintained lists
 * {@linkcode SENSITIVE_NAME_PARTS} and {@linkcode SENSITIVE_NAME_WORDS}.
 *
 * @param name e.g. `PGPASSWORD`, `DB_PASS`, `traefik.http.middlewares.a.basicauth.users`, `--api-key`.
 * @returns `true` when values under it must be redacted.
 */
export function isSensitiveName(name: string): boolean {
  const words = keyWords(name);
  if (words.some((word) => NAME_WORDS.has(word))) return true;
  return NAME_PARTS.test(words.join(""));
}

/**
 * Masks credentials inside one string: known secret values, PEM private key
 * blocks (to the end of the text when the block is cut off) and `Bearer` tokens.
 *
 * @param text Any text.
 * @param scanner Known secrets, when there are any.
 * @returns The masked text.
 */
export function redactText(text: string, scanner?: SecretScanner): string {
  let out = scanner ? scanner.scan(text) : text;
  if (out.includes("-----BEGIN ")) out = maskPrivateKeys(out);
  if (/bearer/i.test(out)) out = out.replace(BEARER, `$1 ${REDACTED}`);
  return out;
}

function maskPrivateKeys(text: string): string {
  const parts: string[] = [];
  let from = 0;
  for (const begin of text.matchAll(PEM_BEGIN)) {
    if (begin.index < from || !begin[1].includes("PRIVATE KEY")) continue;
    const end = `-----END ${begin[1]}-----`;
    const endAt = text.indexOf(end, begin.index + begin[0].length);
    parts.push(text.slice(from, begin.index), REDACTED);
    if (endAt === -1) return parts.join("");
    from = endAt + end.length;
  }
  parts.push(text.slice(from));
  return parts.join("");
}

/**
 * Returns a redacted, JSON-safe deep copy of a value: known secrets and
 * credentials in strings are masked ({@linkcode redactText}), values under
 * sensitive keys ({@linkcode isSensitiveKey}) and PEM text under any `key`
 * field become {@linkcode REDACTED}, and depth, size and string-length limits
 * cut hostile input short. Values JSON cannot hold are turned into ones it can:
 * `undefined`, functions and symbols are dropped from objects (`null` in
 * arrays), bigints and non-finite numbers become strings, cycles and binary
 * data become markers, and objects with `toJSON` (`Date`, `Secret`) are
 * replaced by what it returns.
 *
 * @example
 * ```ts
 * redact({ user: "ops", password: "hunter22" }); // { user: "ops", password: "[REDACTED]" }
 * ```
 *
 * @param value Anything, e.g. a tool call's arguments.
 * @param options Known secrets and limits.
 * @returns The redacted copy; the input is not changed.
 */
export function redact(value: unknown, options: RedactOptions = {}): JsonValue {
  const scanner = options.secrets instanceof SecretScanner
    ? options.secrets
    : options.secrets?.length
    ? new SecretScanner(options.secrets)
    : undefined;
  const maxDepth = options.maxDepth ?? 32;
  const maxLength = options.maxStringLength ?? 65_536;
  let budget = options.maxNodes ?? 10_000;
  const stack = new Set<object>();

  const walk = (node: unknown, depth: number): JsonValue | undefined => {
    if (--budget < 0) return TRUNCATED;
    if (
      node !== null && typeof node === "object" && typeof (node as Jsonable).toJSON === "function"
    ) {
      try {
        node = (node as Jsonable).toJSON();
      } catch {
        return "[UNSERIALIZABLE]";
      }
    }
    switch (typeof node) {
      case "string": {
        const text = redactText(node, scanner);
        return text.length > maxLength ? text.slice(0, maxLength) + TRUNCATED : text;
      }
      case "number":
        return Number.isFinite(node) ? node : String(node);
      case "boolean":
        return node;
      case "bigint":
        return node.toString();
      case "object":
        break;
      default:
        return undefined;
    }
    if (node === null) return null;
    if (ArrayBuffer.isView(node) || node instanceof ArrayBuffer) {
      return `[BINARY ${node.byteLength} bytes]`;
    }
    if (stack.has(node)) return "[CIRCULAR]";
    if (depth >= maxDepth) return TRUNCATED;
    stack.add(node);
    let copy: JsonValue;
    if (Array.isArray(node)) {
      const items: JsonValue[] = [];
      for (const item of node) {
        if (budget <= 0) {
          items.push(TRUNCATED);
          break;
        }
        items.push(walk(item, depth + 1) ?? null);
      }
      copy = items;
    } else {
      const fields: Record<string, JsonValue> = {};
      for (const [name, item] of Object.entries(node)) {
        if (budget <= 0) {
          fields[TRUNCATED] = TRUNCATED;
          break;
        }
        const sensitive = isSensitiveKey(name) ||
          (keyWords(name).includes("key") && typeof item === "string" &&
            item.includes("-----BEGIN "));
        const redacted =
          sensitive && item !== null && typeof item !== "boolean" && item !== undefined
            ? (--budget, REDACTED)
            : walk(item, depth + 1);
        if (redacted === undefined) continue;
        // Secrets are masked in field names too.
        const key = scanner ? scanner.scan(name) : name;
        // A parsed "__proto__" key is data: define it rather than set the prototype.
        if (key === "__proto__") {
          Object.defineProperty(fields, key, { value: redacted, enumerable: true, writable: true });
        } else {
          fields[key] = redacted;
        }
      }
      copy = fields;
    }
    stack.delete(node);
    return copy;
  };
  return walk(value, 0) ?? null;
}

interface Jsonable {
  toJSON(): unknown;
}
