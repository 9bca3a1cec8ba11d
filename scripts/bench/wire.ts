/**
 * Suite "wire" (issue 14): the one HTTP/1.1 module both workers use, against
 * the two it replaced, in the same run. The replaced modules are read from
 * git history (commit {@linkcode BEFORE}) into a temp dir, so nothing of them
 * stays in the tree; without git history the suite is skipped. Each path
 * sends GETs on one kept-alive loopback connection to a Deno.serve server:
 * a 2 KB Content-Length body (the HTTP worker's `exchange`) and a 64 KB
 * chunked body read as a stream (the Docker worker's), interleaved, best of
 * several rounds.
 *
 * @module
 */
import { exchange, openResponse } from "../../src/exec/workers/_http_wire.ts";
import { type BenchOptions, info, REPO_ROOT, type SuiteReport, table } from "./_util.ts";

const SUITE = "wire";
/** The last commit with two HTTP/1.1 modules (before they were made one). */
const BEFORE = "3bd3f7c";

type Round = (conn: Deno.Conn) => Promise<void>;

async function oldModules(dir: string): Promise<{ http: string; docker: string } | undefined> {
  const files = ["_http_wire.ts", "_docker_http.ts", "_conn_pool.ts"];
  for (const file of files) {
    const out = await new Deno.Command("git", {
      args: ["-C", REPO_ROOT, "show", `${BEFORE}:src/exec/workers/${file}`],
      stdout: "piped",
      stderr: "null",
    }).output().catch(() => undefined);
    if (!out?.success) return undefined;
    await Deno.writeFile(`${dir}/${file}`, out.stdout);
  }
  return { http: `${dir}/_http_wire.ts`, docker: `${dir}/_docker_http.ts` };
}

async function perCall(round: Round, conn: Deno.Conn, count: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) await round(conn);
  return ((performance.now() - started) * 1000) / count;
}

/**
 * Runs the suite.
 *
 * @param options `quick` for fewer rounds.
 * @returns Tables and metrics, or `skipped` without git history.
 */
export async function runWire(options: BenchOptions): Promise<SuiteReport> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-bench-wire-" });
  const small = new TextEncoder().encode(JSON.stringify({ items: "x".repeat(2000) }));
  const big = new Uint8Array(64 * 1024).fill(97);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    if (new URL(request.url).pathname === "/small") return new Response(small);
    // A stream of unknown length goes out chunked.
    return new Response(
      new ReadableStream({
        start(controller) {
          for (let at = 0; at < big.length; at += 8192) {
            controller.enqueue(big.slice(at, at + 8192));
          }
          controller.close();
        },
      }),
    );
  });
  try {
    const old = await oldModules(dir);
    if (!old) {
      return { title: "", blocks: [], metrics: [], skipped: `no git history for ${BEFORE}` };
    }
    const oldHttp = await import(old.http);
    const oldDocker = await import(old.docker);
    const port = server.addr.port;
    const get = (path: string) => ({ method: "GET", target: path, host: "bench", headers: [] });
    const drain = async (body: AsyncIterable<Uint8Array>) => {
      let n = 0;
      for await (const part of body) n += part.length;
      if (n !== big.length) throw new Error(`Read ${n} bytes, expected ${big.length}`);
    };
    const paths: Record<string, { before: Round; after: Round }> = {
      "HTTP worker: GET, 2 KB Content-Length body": {
        before: async (conn) => {
          const r = await oldHttp.exchange(conn, get("/small"), 1 << 20, { keepAlive: true });
          if (r.reuseMs === 0) throw new Error("The old module did not keep the connection");
        },
        after: async (conn) => {
          const r = await exchange(conn, get("/small"), 1 << 20, { keepAlive: true });
          if (r.reuseMs === 0) throw new Error("The new module did not keep the connection");
        },
      },
      "Docker worker: GET, 64 KB chunked body as a stream": {
        before: async (conn) => {
          const r = await oldDocker.sendRequest(conn, { method: "GET", target: "/big" }, {
            keepAlive: true,
          });
          await drain(r.body);
          if (!r.reusable()) throw new Error("The old module did not keep the connection");
        },
        after: async (conn) => {
          const r = await openResponse(conn, get("/big"), { keepAlive: true });
          await drain(r.body);
          if (!r.reusable()) throw new Error("The new module did not keep the connection");
        },
      },
    };
    const rows: string[][] = [];
    const metrics = [];
    const count = options.quick ? 200 : 500;
    for (const [name, { before, after }] of Object.entries(paths)) {
      const conns = {
        before: await Deno.connect({ hostname: "127.0.0.1", port }),
        after: await Deno.connect({ hostname: "127.0.0.1", port }),
      };
      try {
        await perCall(before, conns.before, 20);
        await perCall(after, conns.after, 20);
        let b = Infinity, a = Infinity;
        for (let r = 0; r < (options.quick ? 4 : 8); r++) {
          b = Math.min(b, await perCall(before, conns.before, count));
          a = Math.min(a, await perCall(after, conns.after, count));
        }
        rows.push([name, `${a.toFixed(0)} µs`, `${b.toFixed(0)} µs`, `${(a / b).toFixed(2)}×`]);
        metrics.push(info(SUITE, `${name}: one module / before`, `${(a / b).toFixed(2)}×`));
      } finally {
        conns.before.close();
        conns.after.close();
      }
    }
    return {
      title: "One HTTP/1.1 wire module against the two it replaced (per request, best round)",
      blocks: [table(["path", "one module", "before", "ratio"], rows)],
      metrics,
    };
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
