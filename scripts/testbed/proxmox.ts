/**
 * Testbed: a Proxmox VE API contract server on loopback over TLS, with a
 * self-signed certificate made by openssl (so tests pin its SHA-256
 * fingerprint), API-token authentication
 * (`Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`), the endpoints in
 * `_pve_api.ts` with strict parameter checking, per-path privileges, UPID
 * tasks that end after a set number of status reads, and pveproxy-shaped
 * errors (`{"data":null,"message":…,"errors":{…}}`, the message also in the
 * reason phrase). No Proxmox VE can run here; this server is the contract.
 *
 * CLI: `deno run -A scripts/testbed/proxmox.ts` prints the port, token and
 * fingerprint and serves until interrupted.
 *
 * @module
 */
import { type Call, checkValue, ENDPOINTS, PATH_FORMATS, PveError } from "./_pve_api.ts";
import { PveCluster, unknownParam } from "./_pve_cluster.ts";

export { PveCluster } from "./_pve_cluster.ts";

/** A request the server saw. */
export interface SeenPveRequest {
  readonly method: string;
  /** Path under `/api2/json`, as sent (still escaped). */
  readonly path: string;
  readonly query: string;
  /** Parameters from the query and the body. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly authorization: string;
  readonly status: number;
}

/** Options for {@linkcode ProxmoxTestbed.start}. */
export interface ProxmoxOptions {
  /** Token id (default `tailops@pve!gateway`). */
  tokenId?: string;
  /** Token secret (default a fixed UUID). */
  secret?: string;
  /** Privileges the token holds, on every path (default: all the endpoints need). */
  privileges?: readonly string[];
}

/** Every privilege the endpoints check. */
export const ALL_PRIVILEGES: readonly string[] = [
  "Sys.Audit",
  "VM.Audit",
  "VM.PowerMgmt",
  "VM.Snapshot",
  "VM.Snapshot.Rollback",
  "VM.Backup",
  "Datastore.Audit",
];

async function openssl(dir: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/**
 * Makes a self-signed certificate for 127.0.0.1 and localhost with openssl.
 *
 * @returns PEM texts and the certificate's SHA-256 fingerprint (`AB:CD:…`).
 */
export async function selfSignedCertificate(): Promise<
  { cert: string; key: string; fingerprint: string }
> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-pve-tls-" });
  try {
    await openssl(dir, [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "key.pem",
      "-out",
      "cert.pem",
      "-days",
      "30",
      "-subj",
      "/CN=pve1.test",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      // An end-entity certificate: rustls refuses a CA certificate as a server's own, and
      // with CA:FALSE the certificate can also be trusted as itself (`tls.ca`).
      "-addext",
      "basicConstraints=critical,CA:FALSE",
    ]);
    const printed = await openssl(dir, [
      "x509",
      "-in",
      "cert.pem",
      "-noout",
      "-fingerprint",
      "-sha256",
    ]);
    return {
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
      key: await Deno.readTextFile(`${dir}/key.pem`),
      fingerprint: printed.trim().split("=")[1],
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** pveproxy also puts the message in the reason phrase; Deno.serve cannot set one. */
function respond(status: number, body: Record<string, unknown>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json;charset=UTF-8", server: "pve-api-daemon/3.0" },
  });
}

function fail(error: PveError): Response {
  return respond(error.status, {
    data: null,
    message: `${error.message}\n`,
    ...(error.errors ? { errors: error.errors } : {}),
  });
}

/** Splits a path against a route template; path parameters checked by their formats. */
function match(template: string, path: string): Record<string, string> | undefined {
  const want = template.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return undefined;
  const names = want.map((part) => /^\{(\w+)\}$/.exec(part)?.[1]);
  if (names.some((name, i) => name === undefined && want[i] !== got[i])) return undefined;
  const out: Record<string, string> = {};
  for (const [i, name] of names.entries()) {
    if (name === undefined) continue;
    let value: string;
    try {
      value = decodeURIComponent(got[i]);
    } catch {
      throw new PveError(400, "Parameter verification failed.", { [name]: "invalid escape" });
    }
    const checked = checkValue(PATH_FORMATS[name], value);
    if (!checked.ok) {
      // The route is a literal match: pveproxy reports the path parameter's format error.
      if (name === "type" || name === "action") return undefined;
      throw new PveError(400, "Parameter verification failed.", { [name]: checked.error });
    }
    out[name] = value;
  }
  return out;
}

async function readParams(req: Request, url: URL): Promise<Record<string, unknown>> {
  const params: Record<string, unknown> = {};
  for (const [k, v] of url.searchParams) params[k] = v;
  if (req.method === "GET" || req.method === "DELETE") return params;
  const text = await req.text();
  if (text === "") return params;
  // The API documents parameters in the URL and, for POST and PUT, form bodies: nothing else.
  const type = req.headers.get("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded")) {
    throw new PveError(400, "Parameter verification failed.", {
      body: "expected parameters in the URL or an application/x-www-form-urlencoded body",
    });
  }
  for (const [k, v] of new URLSearchParams(text)) params[k] = v;
  return params;
}

/** A running contract server. */
export class ProxmoxTestbed {
  private constructor(
    /** Requests seen, in order. */
    readonly seen: SeenPveRequest[],
    /** The cluster it serves; tests may change it. */
    readonly cluster: PveCluster,
    readonly port: number,
    readonly tokenId: string,
    readonly secret: string,
    /** SHA-256 fingerprint of the server certificate (`AB:CD:…`). */
    readonly fingerprint: string,
    /** The certificate (PEM). */
    readonly cert: string,
    private readonly server: Deno.HttpServer,
  ) {}

  /** The API base URL. */
  get baseUrl(): string {
    return `https://127.0.0.1:${this.port}/api2/json`;
  }

  /**
   * Starts the server on a free loopback port.
   *
   * Needs `run` for openssl, `net` to listen, `read`/`write` for a temp dir.
   *
   * @param options Token and privileges.
   * @returns The running server.
   */
  static async start(options: ProxmoxOptions = {}): Promise<ProxmoxTestbed> {
    const tokenId = options.tokenId ?? "tailops@pve!gateway";
    const secret = options.secret ?? "5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
    const privileges = new Set(options.privileges ?? ALL_PRIVILEGES);
    const tls = await selfSignedCertificate();
    const seen: SeenPveRequest[] = [];
    const cluster = new PveCluster();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key, onListen: () => {} },
      async (req) => {
        const url = new URL(req.url);
        const path = url.pathname.replace(/^\/api2\/json/, "");
        let params: Record<string, unknown> = {};
        const record = (response: Response) => {
          seen.push({
            method: req.method,
            path,
            query: url.search,
            params,
            authorization: req.headers.get("authorization") ?? "",
            status: response.status,
          });
          return response;
        };
        if (!url.pathname.startsWith("/api2/json/")) {
          return record(respond(501, { data: null, message: "Not Implemented\n" }));
        }
        const auth = req.headers.get("authorization");
        if (auth === null) return record(fail(new PveError(401, "No ticket")));
        if (auth !== `PVEAPIToken=${tokenId}=${secret}`) {
          return record(fail(new PveError(401, "invalid token value!")));
        }
        try {
          params = await readParams(req, url);
          for (const endpoint of ENDPOINTS) {
            if (endpoint.method !== req.method) continue;
            const pathParams = match(endpoint.path, path);
            if (!pathParams) continue;
            const typed: Record<string, string | number | boolean> = {};
            const isAction = endpoint.path.endsWith("{action}");
            for (const [name, value] of Object.entries(params)) {
              const param = endpoint.params[name];
              if (!param) {
                if (isAction) {
                  typed[name] = value as string;
                  continue;
                }
                throw unknownParam(name);
              }
              const checked = checkValue(param, value);
              if (!checked.ok) {
                throw new PveError(400, "Parameter verification failed.", {
                  [name]: checked.error,
                });
              }
              typed[name] = checked.value;
            }
            for (const [name, param] of Object.entries(endpoint.params)) {
              if (param.required && typed[name] === undefined) {
                throw new PveError(400, "Parameter verification failed.", {
                  [name]: "property is missing and it is not optional",
                });
              }
            }
            const call: Call = { path: pathParams, params: typed, user: tokenId };
            const needed = endpoint.permission(call);
            if (needed && !privileges.has(needed[1])) {
              throw new PveError(403, `Permission check failed (${needed[0]}, ${needed[1]})`);
            }
            const data = endpoint.handle(cluster, call);
            return record(respond(200, { data }));
          }
          return record(fail(new PveError(501, `Method '${req.method} ${path}' not implemented`)));
        } catch (error) {
          if (error instanceof PveError) return record(fail(error));
          return record(fail(new PveError(500, "internal error")));
        }
      },
    );
    return new ProxmoxTestbed(
      seen,
      cluster,
      (server.addr as Deno.NetAddr).port,
      tokenId,
      secret,
      tls.fingerprint,
      tls.cert,
      server,
    );
  }

  /** Stops the server. */
  async close(): Promise<void> {
    await this.server.shutdown();
  }

  /** Stops the server (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

if (import.meta.main) {
  const bed = await ProxmoxTestbed.start();
  console.log(JSON.stringify({
    base_url: bed.baseUrl,
    token_id: bed.tokenId,
    token_secret: bed.secret,
    fingerprint: bed.fingerprint,
  }));
}
