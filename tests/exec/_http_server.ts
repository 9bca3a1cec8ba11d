/**
 * Real HTTP services on loopback for HTTP worker tests: a plain or TLS
 * `Deno.serve` app with echo, size, delay, trickle and redirect routes, a raw
 * TCP server that trickles its response head forever, and an openssl-made CA
 * and server certificate.
 *
 * @module
 */

/** A request the test server saw. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** A running test service. */
export interface TestServer {
  readonly port: number;
  /** Requests seen, in order. */
  readonly seen: SeenRequest[];
  /** Stops the server and every open connection. */
  close(): Promise<void>;
}

/** PEM files made by {@linkcode makeCertificates}. */
export interface TestCertificates {
  /** The CA that signed `cert`. */
  readonly ca: string;
  /** A CA that signed nothing here. */
  readonly otherCa: string;
  /** Server certificate for `localhost`, `127.0.0.1` and `::1`. */
  readonly cert: string;
  readonly key: string;
  /** The server certificate's notAfter, ISO 8601. */
  readonly notAfter: string;
}

async function openssl(dir: string, ...args: string[]): Promise<string> {
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
 * Makes a CA, a second unrelated CA, and a server certificate (30 days) with openssl.
 *
 * @returns The PEM texts.
 */
export async function makeCertificates(): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-http-tls-" });
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    for (const name of ["ca", "other"]) {
      await openssl(
        dir,
        "req",
        "-x509",
        ...ec,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.pem`,
        "-days",
        "30",
        "-subj",
        `/CN=TailOps test ${name}`,
      );
    }
    await openssl(
      dir,
      "req",
      ...ec,
      "-keyout",
      "srv.key",
      "-out",
      "srv.csr",
      "-subj",
      "/CN=localhost",
    );
    await Deno.writeTextFile(
      `${dir}/ext.cnf`,
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\n",
    );
    await openssl(
      dir,
      "x509",
      "-req",
      "-in",
      "srv.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "srv.pem",
      "-days",
      "30",
      "-extfile",
      "ext.cnf",
    );
    const end = (await openssl(dir, "x509", "-in", "srv.pem", "-noout", "-enddate")).trim();
    const read = (name: string) => Deno.readTextFile(`${dir}/${name}`);
    return {
      ca: await read("ca.pem"),
      otherCa: await read("other.pem"),
      cert: await read("srv.pem"),
      key: await read("srv.key"),
      notAfter: new Date(end.replace("notAfter=", "")).toISOString(),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function trickle(intervalMs: number): ReadableStream<Uint8Array> {
  let timer: ReturnType<typeof setInterval> | undefined;
  return new ReadableStream({
    start(controller) {
      timer = setInterval(() => controller.enqueue(new Uint8Array([120])), intervalMs);
    },
    cancel() {
      clearInterval(timer);
    },
  });
}

function route(request: Request, url: URL, origin: string): Response | Promise<Response> {
  const n = Number(url.searchParams.get("n") ?? "0");
  switch (url.pathname) {
    case "/echo":
      return request.text().then((body) =>
        Response.json({
          method: request.method,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: Object.fromEntries(request.headers),
          body,
        }, { headers: { etag: '"v1"', "set-cookie": "session=abc" } })
      );
    case "/whoami":
      return new Response(
        `you sent: ${request.headers.get("authorization") ?? request.headers.get("x-api-key")}`,
      );
    case "/big":
      return new Response("x".repeat(n), { headers: { "content-type": "text/plain" } });
    case "/big-stream":
      return new Response(
        new ReadableStream({
          pull(controller) {
            controller.enqueue(new Uint8Array(64 * 1024).fill(121));
          },
        }),
      );
    case "/slow":
      return new Promise((resolve) => setTimeout(() => resolve(new Response("late")), n));
    case "/trickle":
      return new Response(trickle(50), { headers: { "content-type": "text/plain" } });
    case "/redirect": {
      const to = url.searchParams.get("to") ?? "/";
      return new Response(null, {
        status: Number(url.searchParams.get("status") ?? 302),
        headers: { location: to },
      });
    }
    case "/loop":
      return Response.redirect(`${origin}/loop`, 302);
    default:
      return Response.json({ ok: true, path: url.pathname });
  }
}

/**
 * Starts the test app on 127.0.0.1 (or `hostname`), plain or TLS.
 *
 * @param options `tls` serves https with the given certificate.
 * @returns The running server.
 */
export function startHttpServer(
  options: { tls?: { cert: string; key: string }; hostname?: string } = {},
): TestServer {
  const seen: SeenRequest[] = [];
  const controller = new AbortController();
  const hostname = options.hostname ?? "127.0.0.1";
  const scheme = options.tls ? "https" : "http";
  let origin = "";
  const server = Deno.serve({
    hostname,
    port: 0,
    signal: controller.signal,
    onListen() {},
    ...(options.tls ?? {}),
  }, (request) => {
    const url = new URL(request.url);
    seen.push({
      method: request.method,
      path: `${url.pathname}${url.search}`,
      headers: Object.fromEntries(request.headers),
    });
    return route(request, url, origin);
  });
  const port = server.addr.port;
  origin = `${scheme}://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  return {
    port,
    seen,
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}

/**
 * Starts a raw TCP server that sends a status line, then one header byte every
 * 50 ms, forever: the slowest possible response head.
 *
 * @returns The running server.
 */
export function startTrickleHeadServer(): TestServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const timers = new Set<ReturnType<typeof setInterval>>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const bytes = new TextEncoder().encode("HTTP/1.1 200 OK\r\nX-Slow: ");
      conn.write(bytes).catch(() => {});
      const timer = setInterval(() => {
        conn.write(new Uint8Array([97])).catch(() => clearInterval(timer));
      }, 50);
      timers.add(timer);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    seen: [],
    close() {
      for (const timer of timers) clearInterval(timer);
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed by the client.
        }
      }
      listener.close();
      return Promise.resolve();
    },
  };
}
