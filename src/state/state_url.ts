/**
 * The `--state-url` setting (`TAILOPS_STATE_URL`): where shared state lives.
 * Absent means the embedded default (the state directory). A PostgreSQL URL
 * may be given directly when it holds no password (`postgres://tailops@db/tailops`,
 * or over a unix socket `postgres://tailops@/tailops?host=/run/postgresql`),
 * or as a secret reference (`${ENV_VAR}` or `file:/path`) whose value is the
 * URL with its password: a password in a flag would show in `ps`.
 *
 * @module
 */
import { Secret, secretRefSchema } from "../config/secret.ts";

/** How to reach PostgreSQL: what the driver needs, and a description without the password. */
export interface PostgresTarget {
  /** A host name or address, or the directory of a unix socket (starts with `/`). */
  readonly host: string;
  /** TCP port, or the number in the socket's name `.s.PGSQL.PORT`. */
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** The password, when the URL came from a secret reference. */
  readonly password?: Secret;
  /** TLS: `disable` (default on a unix socket or loopback), `require` or `verify-full`. */
  readonly ssl: "disable" | "require" | "verify-full";
  /** `postgres://user@host:port/db` without the password: safe to log. */
  readonly display: string;
}

const SSL_MODES = ["disable", "prefer", "require", "verify-full"] as const;

function invalid(found: string): Error {
  return new TypeError(
    `Invalid --state-url: expected postgres://USER@HOST[:PORT]/DATABASE (or a secret reference "\${ENV}" or "file:/path" holding one), found ${found}`,
  );
}

/**
 * Parses a PostgreSQL URL.
 *
 * @param text The URL.
 * @param options Whether a password is allowed (only when the URL came from a secret).
 * @returns The connection target.
 * @throws {TypeError} When it is not a PostgreSQL URL, or holds a password where none may be.
 */
export function parsePostgresUrl(
  text: string,
  options: { password?: boolean } = {},
): Omit<PostgresTarget, "password"> & { passwordText?: string } {
  const m =
    /^(postgres(?:ql)?):\/\/(?:([^:@/?#]*)(?::([^@/?#]*))?@)?([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/
      .exec(text);
  if (!m) throw invalid(text.includes("://") ? "a URL of another kind" : "no URL");
  const [, , rawUser, rawPassword, hostPort, rawDb, query] = m;
  if (rawPassword !== undefined && !options.password) {
    throw new TypeError(
      'Invalid --state-url: it holds a password; pass it as a secret reference ("${ENV_VAR}" or "file:/path") so it never shows in the process list',
    );
  }
  const params = new URLSearchParams(query ?? "");
  const hp = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*))(?::(\d{1,5}))?$/.exec(hostPort);
  if (!hp) throw invalid(`host ${JSON.stringify(hostPort)}`);
  const host = params.get("host") ?? hp[1] ?? (hp[2] || "localhost");
  const port = Number(params.get("port") ?? hp[3] ?? 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`port ${port}`);
  const user = decodeURIComponent(rawUser ?? "");
  const database = decodeURIComponent(rawDb ?? "") || user;
  if (user === "" || database === "") throw invalid("no user name");
  const sslParam = params.get("sslmode") ?? "disable";
  if (!(SSL_MODES as readonly string[]).includes(sslParam)) {
    throw invalid(`sslmode ${JSON.stringify(sslParam)} (expected disable, require or verify-full)`);
  }
  const ssl = sslParam === "prefer" ? "disable" : sslParam as PostgresTarget["ssl"];
  const where = host.startsWith("/") ? `unix:${host}/.s.PGSQL.${port}` : `${host}:${port}`;
  return {
    host,
    port,
    user,
    database,
    ssl,
    display: `postgres://${user}@${where}/${database}`,
    ...(rawPassword !== undefined ? { passwordText: decodeURIComponent(rawPassword) } : {}),
  };
}

/**
 * Reads `--state-url`: a PostgreSQL URL without a password, or a secret
 * reference to one (resolved here).
 *
 * Needs `env` or `read` permission for a secret reference.
 *
 * @param value The flag or environment value.
 * @returns The target.
 * @throws {TypeError} When the value is neither.
 * @throws {Error} When a secret reference cannot be resolved.
 */
export async function readStateUrl(value: string): Promise<PostgresTarget> {
  if (/^(\$\{|file:)/.test(value)) {
    const parsed = secretRefSchema.safeParse(value);
    if (!parsed.success) throw invalid("a malformed secret reference");
    const secret = parsed.data;
    await secret.resolve();
    const { passwordText, ...target } = parsePostgresUrl(secret.reveal(), { password: true });
    return {
      ...target,
      ...(passwordText !== undefined
        ? { password: new Secret(`${secret.source} (password)`, passwordText) }
        : {}),
    };
  }
  return parsePostgresUrl(value);
}
