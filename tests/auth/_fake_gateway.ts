/**
 * A minimal gateway for the self-test's tests: Host/Origin check, the real
 * authenticator (or none, like `--no-auth`), protected resource metadata, and
 * Streamable-HTTP-like sessions bound to their creator. The real app lives in
 * src/http; this stands in so src/auth can be tested on its own.
 *
 * @module
 */
import { createAuthenticator } from "../../src/auth/authenticator.ts";
import { protectedResourceMetadata } from "../../src/auth/metadata.ts";
import type { Authenticator } from "../../src/auth/types.ts";
import { type AuthConfig, authConfigSchema } from "../../src/config/auth_schema.ts";
import type { IdentitiesConfig } from "../../src/config/identities_schema.ts";
import type { z } from "zod";

/** A running fake gateway. */
export interface FakeGateway {
  /** The MCP endpoint. */
  url: string;
  /** Stops it. */
  close(): Promise<void>;
}

/**
 * Starts the fake gateway on 127.0.0.1.
 *
 * @param stateDir State directory for the authenticator.
 * @param options `noAuth` skips authentication and host checks, like an unprotected server.
 * @returns The running gateway.
 */
export async function startFakeGateway(
  stateDir: string,
  options: {
    noAuth?: boolean;
    identities?: IdentitiesConfig;
    auth?: z.input<typeof authConfigSchema>;
  } = {},
): Promise<FakeGateway> {
  const state: { authenticator?: Authenticator } = {};
  let origin = "";
  let config: AuthConfig = authConfigSchema.parse({});
  const sessions = new Map<string, string>();
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, async (req: Request, info): Promise<Response> => {
    const path = new URL(req.url).pathname;
    const prm = protectedResourceMetadata(config, { resource: `${origin}/mcp` });
    if (prm?.paths.includes(path)) return Response.json(prm.document);
    if (path !== "/mcp") return new Response("not found", { status: 404 });
    const body = await req.json().catch(() => ({}));
    let subject = "anonymous";
    if (!options.noAuth) {
      if (req.headers.get("host") !== new URL(origin).host) {
        return new Response(null, { status: 403 });
      }
      const requestOrigin = req.headers.get("origin");
      if (requestOrigin !== null && requestOrigin !== origin) {
        return new Response(null, { status: 403 });
      }
      const outcome = await state.authenticator!.authenticate(req, {
        remoteAddr: info.remoteAddr.hostname,
      });
      if (!outcome.ok) {
        return Response.json(outcome.body, { status: outcome.status, headers: outcome.headers });
      }
      subject = outcome.identity.subject;
    }
    // The 2026-07-28 answers the self-test checks for (no sessions).
    if (req.headers.get("mcp-protocol-version") === "2026-07-28") {
      const error = (code: number, status = 200) =>
        Response.json({ jsonrpc: "2.0", id: body.id, error: { code, message: "refused" } }, {
          status,
        });
      if (body.method === "server/discover") {
        return Response.json({
          jsonrpc: "2.0",
          id: body.id,
          result: { supportedVersions: ["2026-07-28"], capabilities: {} },
        });
      }
      if (req.headers.get("mcp-name") !== body.params?.name) return error(-32020, 400);
      if (body.params?.requestState !== undefined) return error(-32602);
      return Response.json({ jsonrpc: "2.0", id: body.id, result: { content: [] } });
    }
    if (body.method === "initialize") {
      const id = crypto.randomUUID();
      sessions.set(id, subject);
      return Response.json({ jsonrpc: "2.0", id: body.id, result: {} }, {
        headers: { "mcp-session-id": id },
      });
    }
    const session = req.headers.get("mcp-session-id");
    if (session === null || !sessions.has(session)) return new Response(null, { status: 404 });
    if (!options.noAuth && sessions.get(session) !== subject) {
      return new Response(null, { status: 403 });
    }
    if (body.id === undefined) return new Response(null, { status: 202 });
    return Response.json({ jsonrpc: "2.0", id: body.id, result: { tools: [] } });
  });
  origin = `http://127.0.0.1:${server.addr.port}`;
  config = authConfigSchema.parse({ ...options.auth, resource: `${origin}/mcp` });
  state.authenticator = await createAuthenticator(
    { auth: config, identities: options.identities },
    {
      stateDir,
    },
  );
  return { url: `${origin}/mcp`, close: () => server.shutdown() };
}
