/**
 * The gateway over Streamable HTTP, spawned as users run it, driven by the
 * official SDK client.
 *
 * @module
 */
import assert from "node:assert/strict";
import { call, checkObserveGateway, OBSERVE_TOOLS } from "./_mcp_checks.ts";
import { connectHttp, startGateway, tempDirWith } from "./_gateway.ts";

Deno.test("the default gateway over Streamable HTTP serves the observe tools end to end", async (t) => {
  await using gateway = await startGateway();
  const client = await connectHttp(gateway);
  try {
    assert.equal(client.getServerVersion()?.name, "tailops");
    let subject: string | undefined;
    await checkObserveGateway(t, {
      client,
      auditFile: gateway.auditFile,
      // Every record of this session carries the admin token's one identity.
      identity: (s) => (subject ??= s) === s && s !== "local:anonymous",
      stop: async () => {
        await client.close();
        await gateway.stop();
      },
    });
  } finally {
    await client.close();
  }
});

Deno.test("read_file and list_directory refuse symlinks under a root that lead outside it", async () => {
  const root = await tempDirWith({ "inside.txt": "hello from inside\n" });
  try {
    await Deno.symlink("/etc/passwd", `${root}/escape`);
    await Deno.symlink("/etc", `${root}/etc`);
    await Deno.symlink(`${root}/inside.txt`, `${root}/alias.txt`);
    await using gateway = await startGateway({
      targets: [
        "version: 1",
        "targets:",
        "  - id: local",
        "    type: local",
        "    capabilities: [file:read]",
        "    files:",
        `      roots: [${root}]`,
      ].join("\n"),
    });
    const client = await connectHttp(gateway);
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(
        tools.map((tool) => tool.name),
        OBSERVE_TOOLS.filter((name) =>
          ["list_targets", "read_file", "list_directory", "disk_usage"].includes(name)
        ),
        "only list_targets and the file tools: the target has file:read alone",
      );
      const inside = await call(client, "read_file", {
        target: "local",
        path: `${root}/alias.txt`,
      });
      assert.equal(inside.results[0].status, "ok", inside.text);
      assert.equal(inside.results[0].data!.path, `${root}/inside.txt`);
      assert.equal(inside.results[0].data!.content, "hello from inside\n");

      const escape = await call(client, "read_file", { target: "local", path: `${root}/escape` });
      assert.equal(escape.isError, true);
      assert.equal(escape.results[0].error!.code, "forbidden");
      assert.ok(!escape.text.includes("root:x:0:0"));

      const dir = await call(client, "list_directory", { target: "local", path: `${root}/etc` });
      assert.equal(dir.isError, true);
      assert.equal(dir.results[0].error!.code, "forbidden");
      assert.ok(!dir.text.includes("passwd"));
    } finally {
      await client.close();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
