import assert from "node:assert/strict";
import {
  inRange,
  isPublicAddress,
  parseCidr,
  parseIp,
} from "../../src/exec/workers/_http_address.ts";
import { compileConfig, type HttpTargetSettings } from "../../src/exec/workers/_http_config.ts";
import { pathAllowed, pathProblem, requestProblem } from "../../src/exec/workers/_http_paths.ts";
import { redact } from "../../src/exec/workers/_http_result.ts";

const ip = (text: string) => {
  const parsed = parseIp(text);
  assert.ok(parsed, `expected ${text} to parse`);
  return parsed;
};

Deno.test("parseIp() reads IPv4, IPv6 and IPv4-mapped IPv6 and refuses the rest", () => {
  assert.deepEqual(ip("10.1.2.3"), { family: 4, value: 0x0a010203n });
  assert.deepEqual(ip("::1"), { family: 6, value: 1n });
  assert.deepEqual(ip("[::1]"), { family: 6, value: 1n });
  assert.deepEqual(ip("::ffff:127.0.0.1"), ip("127.0.0.1"));
  assert.deepEqual(ip("2001:db8::1"), { family: 6, value: (0x20010db8n << 96n) | 1n });
  for (
    const bad of ["", "localhost", "1.2.3", "256.1.1.1", "01.2.3.4", "1:2:3:4:5:6:7:8:9", "::g"]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("parseCidr() and inRange() match addresses by prefix", () => {
  const ten = parseCidr("10.0.0.0/8")!;
  assert.ok(inRange(ten, ip("10.255.1.1")));
  assert.ok(!inRange(ten, ip("11.0.0.1")));
  assert.ok(!inRange(ten, ip("::ffff:b00:1")));
  assert.ok(inRange(parseCidr("::ffff:10.0.0.0/104")!, ip("10.9.9.9")));
  assert.ok(inRange(parseCidr("fd00::/8")!, ip("fd12::5")));
  assert.ok(inRange(parseCidr("192.168.1.7")!, ip("192.168.1.7")));
  assert.ok(!inRange(parseCidr("192.168.1.7")!, ip("192.168.1.8")));
  for (const bad of ["10.0.0.0/33", "::/129", "10.0.0.0/8/1", "10.0.0.0/x", "host/8"]) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

Deno.test("isPublicAddress() refuses loopback, private, link-local, CGNAT and metadata addresses", () => {
  for (
    const addr of [
      "127.0.0.1",
      "10.0.0.1",
      "172.16.5.5",
      "192.168.0.1",
      "169.254.169.254",
      "100.100.1.1",
      "0.0.0.0",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "::ffff:127.0.0.1",
      "224.0.0.1",
    ]
  ) {
    assert.ok(!isPublicAddress(ip(addr)), addr);
  }
  for (const addr of ["1.1.1.1", "93.184.216.34", "2606:4700::1111"]) {
    assert.ok(isPublicAddress(ip(addr)), addr);
  }
});

Deno.test("pathProblem() refuses traversal, hosts, escapes and control characters", () => {
  for (const good of ["/", "/api/v1/items", "/a/b/", "/x:y@z", "/%41"]) {
    assert.equal(pathProblem(good), undefined, good);
  }
  for (
    const bad of [
      "api",
      "//evil.example/x",
      "/a/../b",
      "/a/./b",
      "/a//b",
      "/a?b=1",
      "/a#f",
      "/a b",
      "/a\r\nX: y",
      "/a\\b",
      "/%2e%2e/x",
      "/a%2Fb",
      "/a%00",
      "/a%zz",
      "http://x/",
    ]
  ) {
    assert.ok(pathProblem(bad), bad);
  }
});

Deno.test("path globs match within a segment with * and across segments with **", () => {
  assert.ok(pathAllowed("/api", ["/api/**"]));
  assert.ok(pathAllowed("/api/a/b", ["/api/**"]));
  assert.ok(!pathAllowed("/apix", ["/api/**"]));
  assert.ok(pathAllowed("/users/42", ["/users/*"]));
  assert.ok(!pathAllowed("/users/42/keys", ["/users/*"]));
  assert.ok(pathAllowed("/a/x/y/b", ["/a/**/b"]));
  assert.ok(pathAllowed("/v1.json", ["/v1.json"]));
  assert.ok(!pathAllowed("/v1xjson", ["/v1.json"]));
  assert.ok(pathAllowed("/anything/at/all", ["/**"]));
  assert.match(
    requestProblem({ method: "PUT", path: "/x" }, { methods: ["GET"], paths: ["/**"] })!,
    /Method PUT is not allowed on this target: expected one of GET/,
  );
});

Deno.test("redact() scrubs secrets, their JSON-escaped forms and a cut-off tail", () => {
  assert.equal(redact("a s3cret b s3cret", ["s3cret"], false), "a [REDACTED] b [REDACTED]");
  assert.equal(redact('{"k":"q\\"uote"}', ['q"uote'], false), '{"k":"[REDACTED]"}');
  assert.equal(redact("token is s3cr", ["s3cret"], true), "token is [REDACTED]");
  assert.equal(redact("token is s3cr", ["s3cret"], false), "token is s3cr");
  assert.equal(redact("abc", ["ab"], false), "abc");
});

Deno.test("compileConfig() refuses malformed settings without echoing values", () => {
  const base: HttpTargetSettings = {
    id: "api",
    scheme: "http",
    hostname: "127.0.0.1",
    port: 80,
    basePath: "",
    hostHeader: "127.0.0.1",
    methods: ["GET"],
    paths: ["/**"],
    headers: {},
    auth: null,
    secrets: [],
    caCerts: [],
    redirects: "none",
    allowAddresses: [],
    responseCapBytes: 1024,
  };
  assert.throws(() => compileConfig({}), /expected a targets list/);
  assert.throws(
    () => compileConfig({ targets: [{ ...base, allowAddresses: ["nope"] }] }),
    /allow_addresses/,
  );
  assert.throws(
    () => compileConfig({ targets: [{ ...base, headers: { host: "x" } }] }),
    /default header "host"/,
  );
  assert.throws(
    () =>
      compileConfig({ targets: [{ ...base, auth: { name: "x-key", value: "s3cret\r\nX: y" } }] }),
    (error: Error) => !error.message.includes("s3cret"),
  );
  const target = compileConfig({ targets: [base] }).get("api")!;
  assert.ok(target.addressAllowed(ip("127.0.0.1")));
  assert.ok(!target.addressAllowed(ip("127.0.0.2")));
  const named = compileConfig({ targets: [{ ...base, hostname: "api.example" }] }).get("api")!;
  assert.ok(named.addressAllowed(ip("1.1.1.1")));
  assert.ok(!named.addressAllowed(ip("127.0.0.1")));
});
