import assert from "node:assert/strict";
import { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import type { DockerResult } from "../../src/exec/plan.ts";
import { dockerHost, dockerRegistry, plan } from "./_docker_fixture.ts";

Deno.test("docker worker against a real engine", async (t) => {
  const testbed = await DockerdTestbed.start({ tls: true });
  try {
    const c = testbed.certificates!;
    const registry = await dockerRegistry([
      { id: "local", socket: testbed.socket },
      { id: "small", socket: testbed.socket, capBytes: 1_048_576 },
      { id: "tls", host: testbed.tcp!, tls: { ca: "CA", cert: "CERT", key: "KEY" } },
      { id: "wrong-ca", host: testbed.tcp!, tls: { ca: "WRONG", cert: "CERT", key: "KEY" } },
    ], { CA: c.caCert, CERT: c.clientCert, KEY: c.clientKey, WRONG: c.wrongCaCert });
    const host = dockerHost(registry);
    const local = registry.get("local")!;
    try {
      await testbed.runContainer("mixed", {
        command: ["sh", "-c", "echo one; echo two >&2; echo three; sleep 600"],
      });
      await testbed.runContainer("tty", {
        command: ["sh", "-c", "echo on-a-tty; sleep 600"],
        tty: true,
      });
      await testbed.runContainer("flood", {
        command: [
          "sh",
          "-c",
          "yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijkl | head -c 52428800",
        ],
      });

      await t.step("negotiates API 1.41 with the Debian engine and lists containers", async () => {
        const outcome = await host.run(
          local,
          plan(local, { method: "GET", path: "/containers/json", response: "json" }),
        );
        assert.ok(outcome.ok);
        const result = outcome.result as DockerResult;
        assert.equal(result.apiVersion, "1.41");
        assert.ok((result.body as unknown[]).length >= 2);
      });

      await t.step("demultiplexes stdout and stderr of a container without a TTY", async () => {
        const outcome = await host.run(
          local,
          plan(local, {
            method: "GET",
            path: "/containers/mixed/logs",
            query: { stdout: "1", stderr: "1" },
            response: "logs",
            requireContainer: "mixed",
          }),
        );
        assert.ok(outcome.ok);
        const result = outcome.result as DockerResult;
        assert.equal(result.stdout, "one\nthree\n");
        assert.equal(result.stderr, "two\n");
      });

      await t.step("reads a TTY container's logs as one raw stream", async () => {
        const outcome = await host.run(
          local,
          plan(local, {
            method: "GET",
            path: "/containers/tty/logs",
            query: { stdout: "1", stderr: "1" },
            response: "logs",
            requireContainer: "tty",
          }),
        );
        assert.ok(outcome.ok);
        assert.equal((outcome.result as DockerResult).stdout, "on-a-tty\r\n");
      });

      await t.step("caps 50 MB of logs at the output cap and stops reading", async () => {
        await testbed.docker("wait", "flood");
        const small = registry.get("small")!;
        const started = performance.now();
        const outcome = await host.run(
          small,
          plan(small, {
            method: "GET",
            path: "/containers/flood/logs",
            query: { stdout: "1", stderr: "1" },
            response: "logs",
            requireContainer: "flood",
          }),
        );
        assert.ok(outcome.ok);
        const result = outcome.result as DockerResult;
        assert.equal(result.truncated, true);
        assert.equal(result.stdout!.length, 1_048_576);
        assert.ok(result.stdout!.startsWith("0123456789abc"));
        assert.ok(
          performance.now() - started < 30_000,
          "not hung (the code says which deadline ended it)",
        );
      });

      await t.step("refuses a mutation on a container that does not exist", async () => {
        const outcome = await host.run(
          local,
          plan(local, {
            method: "POST",
            path: "/containers/ghost/stop",
            response: "none",
            requireContainer: "ghost",
          }),
        );
        assert.ok(!outcome.ok);
        assert.equal(outcome.error.code, "not_found");
        assert.equal(
          outcome.error.message,
          'No container "ghost" exists on target "local"; nothing was changed',
        );
      });

      await t.step("talks to a TLS engine with client certificates", async () => {
        const tls = registry.get("tls")!;
        const outcome = await host.run(
          tls,
          plan(tls, { method: "GET", path: "/_ping", response: "none" }),
        );
        assert.ok(outcome.ok, JSON.stringify(outcome));
        assert.equal((outcome.result as DockerResult).status, 200);
      });

      await t.step(
        "refuses a TLS engine whose certificate is not from the configured CA",
        async () => {
          const wrong = registry.get("wrong-ca")!;
          const outcome = await host.run(
            wrong,
            plan(wrong, { method: "GET", path: "/_ping", response: "none" }),
          );
          assert.ok(!outcome.ok);
          assert.equal(outcome.error.code, "untrusted");
          assert.match(outcome.error.message, /TLS handshake failed/);
        },
      );

      await t.step("reports an engine killed mid-call, then works once it is back", async () => {
        // Without containers to restore, the engine restarts in about a second.
        await testbed.docker("rm", "-f", "mixed", "tty", "flood");
        const call = host.run(
          local,
          plan(local, { method: "GET", path: "/events", response: "stream_json" }),
        );
        await new Promise((r) => setTimeout(r, 300));
        await testbed.stopDaemon({ signal: "SIGKILL" });
        const outcome = await call;
        assert.ok(!outcome.ok, "the call should fail");
        assert.equal(outcome.error.code, "unreachable");
        assert.match(outcome.error.message, /Docker engine of target "local"/);
        const down = await host.run(
          local,
          plan(local, { method: "GET", path: "/_ping", response: "none" }),
        );
        assert.ok(!down.ok);
        assert.equal(down.error.code, "unreachable");
        await testbed.startDaemon();
        const again = await host.run(
          local,
          plan(local, { method: "GET", path: "/containers/json", response: "json" }),
        );
        assert.ok(again.ok);
        assert.equal((again.result as DockerResult).apiVersion, "1.41");
      });
    } finally {
      host.close();
    }
  } finally {
    await testbed.close();
  }
});
