/**
 * A real OAuth 2.1 / OIDC issuer on loopback for tests: discovery document,
 * JWKS, introspection. Keys are made with jose and can be rotated.
 *
 * @module
 */
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";

/** An introspection answer, by token. */
export type IntrospectionTable = Map<string, Record<string, unknown>>;

/** A running test issuer. */
export interface TestIssuer {
  /** The issuer identifier (`http://127.0.0.1:PORT`). */
  issuer: string;
  /** Current key id. */
  kid: string;
  /** Signs an access token with the current key (ES256). */
  sign(claims: JWTPayload, header?: Record<string, unknown>): Promise<string>;
  /** The current private key, for callers that sign their own tokens. */
  privateKey(): CryptoKey;
  /** Replaces the signing key; the JWKS then serves only the new key. */
  rotate(): Promise<void>;
  /** Answers the introspection endpoint gives, by token. */
  introspection: IntrospectionTable;
  /** Requests served, by path. */
  hits: Map<string, number>;
  /** The client credentials the introspection endpoint requires. */
  client: { id: string; secret: string };
  /** Stops the server. */
  close(): Promise<void>;
}

/**
 * Starts a test issuer on 127.0.0.1, port chosen by the system.
 *
 * @returns The running issuer.
 */
export async function startIssuer(): Promise<TestIssuer> {
  let key = await generateKeyPair("ES256", { extractable: true });
  let kid = "k1";
  let generation = 1;
  const introspection: IntrospectionTable = new Map();
  const hits = new Map<string, number>();
  const client = { id: "tailops", secret: "s3cret:with/odd chars" };
  const expectedBasic = `Basic ${
    btoa(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`)
  }`;
  let issuer = "";
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === "/.well-known/openid-configuration") {
      return Response.json({
        issuer,
        jwks_uri: `${issuer}/jwks`,
        introspection_endpoint: `${issuer}/introspect`,
      });
    }
    if (path === "/jwks") {
      const jwk = await exportJWK(key.publicKey);
      return Response.json({ keys: [{ ...jwk, kid, alg: "ES256", use: "sig" }] });
    }
    if (path === "/introspect" && req.method === "POST") {
      if (req.headers.get("authorization") !== expectedBasic) {
        return Response.json({ error: "invalid_client" }, { status: 401 });
      }
      const token = new URLSearchParams(await req.text()).get("token") ?? "";
      return Response.json(introspection.get(token) ?? { active: false });
    }
    return new Response("not found", { status: 404 });
  });
  issuer = `http://127.0.0.1:${server.addr.port}`;
  return {
    issuer,
    get kid() {
      return kid;
    },
    async sign(claims, header = {}) {
      return await new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt", ...header })
        .sign(key.privateKey);
    },
    privateKey: () => key.privateKey,
    async rotate() {
      key = await generateKeyPair("ES256", { extractable: true });
      kid = `k${++generation}`;
    },
    introspection,
    hits,
    client,
    close: () => server.shutdown(),
  };
}
