/**
 * An upstream HTTP API that echoes the credential the gateway injected, in
 * every encoding a careless or hostile service might use — base64 at each
 * alignment and in both alphabets, hex, `\u` escapes, percent-encoding, in
 * JSON and in plain text — through the real gateway process and the SDK
 * client: no form of the credential reaches the client or the audit log.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectHttp, startGateway } from "./_gateway.ts";
import { call } from "./_mcp_checks.ts";

const TOKEN = "tok-Zq9/x+Yw_Sensitive-Credential~0042";
const PASSWORD = "pässwörd-with-ünïcode+/=";

const bytes = (text: string) => new TextEncoder().encode(text);
const base64 = (data: Uint8Array) => btoa(String.fromCharCode(...data));
const urlSafe = (text: string) => text.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const hex = (data: Uint8Array) => Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
const unicode = (text: string) =>
  [...text].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("");
const percentAll = (data: Uint8Array) =>
  Array.from(data, (b) => `%${b.toString(16).padStart(2, "0").toUpperCase()}`).join("");

/** Each way the upstream writes a secret back. */
function encodings(secret: string): Record<string, string> {
  const raw = bytes(secret);
  return {
    base64: base64(raw),
    base64_shift1: base64(new Uint8Array([0x41, ...raw])),
    base64_shift2: base64(new Uint8Array([0x41, 0x42, ...raw])),
    base64url_shift1: urlSafe(base64(new Uint8Array([0x7a, ...raw]))),
    base64url_nopad: urlSafe(base64(raw)),
    hex: hex(raw),
    hex_upper: hex(raw).toUpperCase(),
    unicode: unicode(secret),
    unicode_upper: unicode(secret).toUpperCase().replaceAll("\\U", "\\u"),
    unicode_partial: secret.slice(0, 4) + unicode(secret.slice(4, 9)) + secret.slice(9),
    percent: encodeURIComponent(secret),
    percent_all: percentAll(raw),
    form: new URLSearchParams({ v: secret }).toString().slice(2),
  };
}

/**
 * How many characters of an encoded credential the 1024-byte cap lets
 * through in the cut test: at least 8 characters of the credential itself
 * (a shorter beginning is not masked; see MIN_EDGE_LENGTH).
 */
function keptOf(name: string, shift: number): number {
  return (name === "unicode" ? 60 : name === "percent_all" ? 30 : 24) + shift;
}

/** Where each encoding appears when the body is plain text vs JSON. */
function targets(port: number): string {
  return [
    "targets:",
    "  - id: bearer-api",
    "    type: http",
    "    capabilities: [http:read]",
    "    connection:",
    `      base_url: http://127.0.0.1:${port}`,
    "      methods: [GET]",
    '      paths: ["/echo/**"]',
    '      auth: { bearer: "${TAILOPS_IT_TOKEN}" }',
    "  - id: basic-api",
    "    type: http",
    "    capabilities: [http:read]",
    "    connection:",
    `      base_url: http://127.0.0.1:${port}`,
    "      methods: [GET]",
    '      paths: ["/echo/**"]',
    '      auth: { basic: { username: ops, password: "${TAILOPS_IT_PASSWORD}" } }',
    "  - id: cut-api",
    "    type: http",
    "    capabilities: [http:read]",
    "    constraints: { output_cap_bytes: 1024 }",
    "    connection:",
    `      base_url: http://127.0.0.1:${port}`,
    "      methods: [GET]",
    '      paths: ["/cut/**"]',
    '      auth: { bearer: "${TAILOPS_IT_TOKEN}" }',
  ].join("\n");
}

Deno.test("An upstream echoing the injected credential in any encoding leaks nothing through the gateway", async () => {
  const api = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const header = req.headers.get("authorization") ?? "";
    const secret = header.startsWith("Bearer ") ? header.slice(7) : new TextDecoder().decode(
      Uint8Array.from(atob(header.slice(6)), (c) => c.charCodeAt(0)),
    ).replace(/^ops:/, "");
    const [, kind, format, name] = new URL(req.url).pathname.split("/");
    if (kind === "cut") {
      // The output cap (1024 bytes) falls inside the encoded credential.
      const form = name === "raw" ? secret : encodings(secret)[name];
      return new Response("x".repeat(1024 - keptOf(name, Number(format))) + form + "y".repeat(200));
    }
    const value = encodings(secret)[name] ?? "unknown encoding";
    return format === "json"
      ? Response.json({ leaked: value, note: `around ${value} here` })
      : new Response(`prefix ${value} suffix\n`, { headers: { "content-type": "text/plain" } });
  });
  try {
    await using gateway = await startGateway({
      targets: targets(api.addr.port),
      env: { TAILOPS_IT_TOKEN: TOKEN, TAILOPS_IT_PASSWORD: PASSWORD },
    });
    const client = await connectHttp(gateway);
    try {
      for (const [target, secret] of [["bearer-api", TOKEN], ["basic-api", PASSWORD]]) {
        const forms = encodings(secret);
        for (const name of Object.keys(forms)) {
          for (const format of ["text", "json"]) {
            const path = `/echo/${format}/${name}`;
            const result = await call(client, "http_request", { target, path });
            assert.equal(result.results[0].status, "ok", `${target} ${path}: ${result.text}`);
            const seen = JSON.stringify(result.results) + result.text;
            assert.ok(seen.includes("[REDACTED]"), `${target} ${path}: nothing masked: ${seen}`);
            for (const [formName, form] of Object.entries({ raw: secret, ...forms })) {
              // The masked core may leave a character or two of a base64 edge: check the middle.
              const middle = form.slice(
                Math.floor(form.length / 4),
                Math.ceil(form.length * 3 / 4),
              );
              assert.ok(!seen.includes(middle), `${target} ${path}: ${formName} leaked: ${seen}`);
            }
          }
        }
      }
      for (const name of ["raw", "base64", "base64url_nopad", "hex", "unicode", "percent_all"]) {
        for (const shift of [0, 1, 2]) {
          const result = await call(client, "http_request", {
            target: "cut-api",
            path: `/cut/${shift}/${name}`,
          });
          assert.equal(result.results[0].status, "ok", result.text);
          const seen = JSON.stringify(result.results) + result.text;
          const form = name === "raw" ? TOKEN : encodings(TOKEN)[name];
          const kept = keptOf(name, shift);
          // What the cap let through of the credential, less the edge base64 shares with the filler.
          const leaked = form.slice(2, kept);
          assert.ok(!seen.includes(leaked), `cut ${name}+${shift}: ${leaked} leaked: ${seen}`);
        }
      }
    } finally {
      await client.close();
    }
    const audit = await Deno.readTextFile(gateway.auditFile);
    for (const secret of [TOKEN, PASSWORD]) {
      for (const form of [secret, ...Object.values(encodings(secret))]) {
        assert.ok(!audit.includes(form), `the audit log holds ${form}`);
      }
    }
  } finally {
    await api.shutdown();
  }
});
