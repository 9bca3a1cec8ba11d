/**
 * Policy `cidrs` limits: a destination parameter must be an IP address
 * literal inside one of the ranges. Every other spelling of an address
 * (short, octal, hex, decimal, padded, scoped, bracketed, with a prefix) and
 * every host name is refused, since the target would resolve or read it
 * differently from the gate.
 */
import assert from "node:assert/strict";
import { parsePolicy } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/errors.ts";
import { compilePolicy } from "../../src/gate/policy.ts";
import { CATALOG } from "../../src/ops/catalog.ts";
import { loadPositionParser } from "../../src/config/yaml_source.ts";

// The synchronous parsing below needs `yaml` loaded (the gateway loads it on demand).
await loadPositionParser();

const POLICY = `rules:
  - id: diag
    operations: [tcp_check]
    params:
      host: { cidrs: [127.0.0.0/8, "::1", "fd00::/8"] }
`;

function check(host: string): string | undefined {
  const policy = compilePolicy(parsePolicy(POLICY, "p.yaml"), CATALOG);
  return policy.rules[0].checkParams({ host, port: 22 }, { paramNames: ["host", "port"] });
}

Deno.test("cidrs admit addresses inside the ranges, IPv4-mapped IPv6 included", () => {
  for (const host of ["127.0.0.1", "127.255.255.254", "::1", "fd12::5", "::ffff:127.0.0.1"]) {
    assert.equal(check(host), undefined, host);
  }
});

Deno.test("cidrs refuse other addresses, host names and every other spelling of an address", () => {
  const refused = [
    "10.0.0.1",
    "128.0.0.1",
    "::2",
    "fe80::1",
    "localhost",
    "example.com",
    "127.1",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "127.000.0.1",
    "2130706433",
    "127.0.0.1.",
    " 127.0.0.1",
    "127.0.0.1 ",
    "127.0.0.1/8",
    "fd00::1%eth0",
    "127.0.0.1\n",
    "１２７.0.0.1",
    "",
  ];
  for (const host of refused) {
    const problem = check(host);
    assert.ok(problem, `${JSON.stringify(host)} was admitted`);
    assert.match(problem!, /must be an IP address in 127\.0\.0\.0\/8, ::1, fd00::\/8, found/);
  }
});

Deno.test("a cidrs limit that is not a range is a load error naming what was found", () => {
  for (const bad of ["10.0.0.0/33", "10.0.0.300", "db.internal", "::/129", "10.0.0.0/8/8"]) {
    const yaml = `rules:\n  - id: r\n    params:\n      host: { cidrs: [${
      JSON.stringify(bad)
    }] }\n`;
    assert.throws(
      () => parsePolicy(yaml, "p.yaml"),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.includes("Invalid CIDR range") &&
        error.message.includes(JSON.stringify(bad)) && /p\.yaml:\d+:\d+/.test(error.message),
      bad,
    );
  }
});
