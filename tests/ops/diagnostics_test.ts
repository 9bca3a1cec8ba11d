import assert from "node:assert/strict";
import { dnsLookup, ping, tcpCheck } from "../../src/ops/diagnostics.ts";
import { asExec, cmd, exec, has, localTarget, runPlan } from "./_host_helpers.ts";

Deno.test("diagnostics put the destination after -- and refuse anything but a host name or address", () => {
  const target = localTarget();
  assert.deepEqual(
    asExec(tcpCheck.plan(tcpCheck.input.parse({ host: "db-1.internal", port: 5432 }), target))
      .commands[0],
    ["nc", "-z", "-v", "-w", "3", "--", "db-1.internal", "5432"],
  );
  assert.deepEqual(
    asExec(dnsLookup.plan(dnsLookup.input.parse({ host: "::1" }), target)).commands[0],
    ["getent", "ahosts", "--", "::1"],
  );
  assert.deepEqual(
    asExec(ping.plan(ping.input.parse({ host: "10.0.0.5", count: 2 }), target)).commands[0],
    ["ping", "-n", "-c", "2", "-W", "3", "--", "10.0.0.5"],
  );
  const bad = [
    "-oProxyCommand=x",
    "--help",
    "a b",
    "a;reboot",
    "$(id)",
    "`id`",
    "10.0.0.0/8",
    "host\n",
    "ｅxample.com",
    "exa\u0301mple.com",
    "x".repeat(254),
    "",
    "a..b",
    "http://x",
  ];
  for (const host of bad) {
    for (const op of [tcpCheck, dnsLookup, ping]) {
      assert.equal(op.input.safeParse({ host, port: 80 }).success, false, `${op.name} ${host}`);
    }
  }
  for (const args of [{ port: 0 }, { port: 65536 }, { port: "80" }, { timeout_s: 11 }]) {
    assert.equal(tcpCheck.input.safeParse({ host: "x", port: 80, ...args }).success, false);
  }
  assert.equal(ping.input.safeParse({ host: "x", count: 11 }).success, false);
});

Deno.test("diagnostic parsers read success, refusal, not found and loss", () => {
  const args = tcpCheck.input.parse({ host: "h", port: 1 });
  assert.equal(
    tcpCheck.parse(
      exec(cmd(["nc"], "", { stderr: "Connection to h 1 port [tcp/*] succeeded!\n" })),
      args,
    )
      .open,
    true,
  );
  assert.deepEqual(
    tcpCheck.parse(
      exec(
        cmd(["nc"], "", {
          exitCode: 1,
          stderr: "nc: connect to h port 1 (tcp) failed: Connection refused\n",
        }),
      ),
      args,
    ),
    { host: "h", port: 1, open: false, reason: "refused" },
  );
  const dns = dnsLookup.input.parse({ host: "nope" });
  assert.deepEqual(dnsLookup.parse(exec(cmd(["getent"], "", { exitCode: 2 })), dns), {
    host: "nope",
    found: false,
    addresses: [],
  });
  const lost = ping.parse(
    exec(
      cmd(["ping"], "3 packets transmitted, 0 received, 100% packet loss, time 2041ms\n", {
        exitCode: 1,
      }),
    ),
    ping.input.parse({ host: "h" }),
  );
  assert.deepEqual(lost, { host: "h", sent: 3, received: 0, loss_percent: 100, rtt_ms: null });
});

Deno.test({
  name: "diagnostics run for real against loopback on this machine",
  ignore: !has("nc") || !has("ping") || !has("getent"),
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = (listener.addr as Deno.NetAddr).port;
      const check = async (args: unknown) => {
        const parsed = tcpCheck.input.parse(args);
        return tcpCheck.parse(await runPlan(asExec(tcpCheck.plan(parsed, localTarget()))), parsed);
      };
      assert.equal((await check({ host: "127.0.0.1", port })).open, true);
      listener.close();
      const closed = await check({ host: "127.0.0.1", port });
      assert.deepEqual([closed.open, closed.reason], [false, "refused"]);
    } finally {
      try {
        listener.close();
      } catch {
        // Closed above.
      }
    }
    const dns = dnsLookup.input.parse({ host: "localhost" });
    const found = dnsLookup.parse(await runPlan(asExec(dnsLookup.plan(dns, localTarget()))), dns);
    assert.ok(found.addresses.includes("127.0.0.1") || found.addresses.includes("::1"));
    const p = ping.input.parse({ host: "127.0.0.1", count: 1 });
    const pong = ping.parse(await runPlan(asExec(ping.plan(p, localTarget()))), p);
    assert.equal(pong.received, 1);
  },
});
