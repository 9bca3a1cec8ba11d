import assert from "node:assert/strict";
import { parseHttpLimits } from "../../src/cli/http_limits.ts";
import { HTTP_LIMIT_FLAGS } from "../../src/cli/http_limits.ts";
import { parseFlags } from "../../src/cli/options.ts";
import { CliError } from "../../src/cli/errors.ts";
import { DEFAULT_LISTENER_LIMITS, effectiveMaxConnections } from "../../src/http/listener.ts";
import { DEFAULT_SESSION_LIMITS } from "../../src/http/mcp_sessions.ts";

const parse = (args: string[]) => parseHttpLimits(parseFlags(args, HTTP_LIMIT_FLAGS));

Deno.test("parseHttpLimits() gives the safe defaults when no flag is set", () => {
  const limits = parse([]);
  assert.deepEqual(limits.listener, DEFAULT_LISTENER_LIMITS);
  assert.equal(
    limits.sessions.maxSessionsPerIdentity,
    DEFAULT_SESSION_LIMITS.maxSessionsPerIdentity,
  );
  assert.equal(limits.sessions.idleMs, DEFAULT_SESSION_LIMITS.idleMs);
});

Deno.test("parseHttpLimits() reads durations with units and whole counts", () => {
  const limits = parse([
    "--headers-timeout",
    "500ms",
    "--keep-alive-timeout",
    "2m",
    "--max-connections-per-peer",
    "7",
    "--session-idle-timeout",
    "1h",
  ]);
  assert.equal(limits.listener.headersTimeoutMs, 500);
  assert.equal(limits.listener.keepAliveTimeoutMs, 120_000);
  assert.equal(limits.listener.maxConnectionsPerPeer, 7);
  assert.equal(limits.sessions.idleMs, 3_600_000);
});

Deno.test("parseHttpLimits() refuses values that are not numbers, out of range or inconsistent", () => {
  for (
    const args of [
      ["--max-connections", "0"],
      ["--max-connections", "-5"],
      ["--max-connections", "1e3"],
      ["--headers-timeout", "10"],
      ["--headers-timeout", "1d"],
      ["--headers-timeout", "50ms"],
      ["--headers-timeout", "40s"],
      ["--max-sessions-per-identity", "many"],
    ]
  ) {
    assert.throws(() => parse(args), CliError, args.join(" "));
  }
});

Deno.test("effectiveMaxConnections() keeps the reserve free below the descriptor limit", () => {
  const limits = { ...DEFAULT_LISTENER_LIMITS, maxConnections: 1024, fdReserve: 256 };
  assert.equal(effectiveMaxConnections(limits, undefined), 1024);
  assert.equal(effectiveMaxConnections(limits, 20_000), 1024);
  assert.equal(effectiveMaxConnections(limits, 1024), 768);
  assert.equal(effectiveMaxConnections(limits, 100), 1);
});

Deno.test("parseHttpLimits() reads the transport rate flags: per minute, with or without a burst", () => {
  assert.equal(parse([]).rates, undefined, "no flag: the policy (or the default) decides");
  const limits = parse(["--http-rate-unauthenticated", "600", "--http-rate-identity", "120:40"]);
  assert.deepEqual(limits.rates?.unauthenticated, { perMinute: 600, burst: 100 });
  assert.deepEqual(limits.rates?.identity, { perMinute: 120, burst: 40 });
  assert.deepEqual(parse(["--http-rate-identity", "5"]).rates, {
    unauthenticated: undefined,
    identity: { perMinute: 5, burst: 1 },
  });
});

Deno.test("parseHttpLimits() refuses a malformed rate in one line naming the flag and the form", () => {
  for (
    const value of ["0", "fast", "100:0", "100:", ":5", "1.5", "100:5:5", "9999999999"]
  ) {
    assert.throws(
      () => parse(["--http-rate-identity", value]),
      (error: Error) => {
        assert.ok(error instanceof CliError);
        assert.equal(
          error.message,
          `Invalid --http-rate-identity ${
            JSON.stringify(value)
          }: expected requests per minute, optionally with a burst, such as 12000 or 12000:2000 (each 1 to 100000000)`,
        );
        return true;
      },
    );
  }
});
