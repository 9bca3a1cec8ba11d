/**
 * read_file and list_directory through the real gateway (HTTP, MCP SDK
 * client), on the local target and over real sshd: FIFOs, sockets and devices
 * are refused without blocking, however many calls pile up; symlinks leading
 * outside the roots are refused and those staying inside are followed; the
 * gateway's own secret sources (a `file:` key, the state directory with its
 * audit log and signing key) are refused whatever the roots, through symlinks
 * and hard links, and in 3-byte pieces.
 *
 * @module
 */
import assert from "node:assert/strict";
import { generateClientKey, SshdTestbed } from "../../scripts/testbed/sshd.ts";
import { connectHttp, startGateway } from "./_gateway.ts";
import { call } from "./_mcp_checks.ts";

async function mkfifo(path: string): Promise<void> {
  const out = await new Deno.Command("mkfifo", { args: ["-m", "0644", "--", path] }).output();
  assert.ok(out.success, `mkfifo ${path}`);
}

async function mknodNull(path: string): Promise<boolean> {
  const out = await new Deno.Command("mknod", { args: ["-m", "0666", "--", path, "c", "1", "3"] })
    .output();
  return out.success;
}

Deno.test({
  name:
    "read_file and list_directory refuse special files without blocking, stay inside the roots and never reveal the gateway's own secret files",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const base = await Deno.makeTempDir({ prefix: "tailops-files-it-" });
    await Deno.chmod(base, 0o755);
    const root = `${base}/root`;
    const state = `${root}/state`;
    const keys = `${root}/keys`;
    await Deno.mkdir(keys, { recursive: true });
    await Deno.mkdir(`${base}/outside`);
    for (const dir of [root, `${base}/outside`]) await Deno.chmod(dir, 0o755);
    await Deno.writeTextFile(`${root}/hello.txt`, "hello\n");
    await Deno.writeTextFile(`${base}/outside/secret.txt`, "OUTSIDE-SECRET\n");
    await Deno.chmod(`${base}/outside/secret.txt`, 0o644);
    await mkfifo(`${root}/fifo`);
    const socket = Deno.listen({ transport: "unix", path: `${root}/sock` });
    const haveDevice = await mknodNull(`${root}/null`);
    await Deno.symlink(`${base}/outside/secret.txt`, `${root}/link-out`);
    await Deno.symlink(`${base}/outside`, `${root}/dir-link-out`);
    await Deno.symlink("hello.txt", `${root}/link-in`);
    await Deno.symlink(`${root}/fifo`, `${root}/link-fifo`);
    // The gateway's key for an SSH target, inside the root: a secret source of the registry.
    const key = await generateClientKey(keys, "ed25519", { name: "id_gateway" });
    await Deno.symlink(key.path, `${root}/link-key`);
    await Deno.link(key.path, `${root}/hardlink-key`);
    await Deno.symlink(state, `${root}/link-state`);
    const keyBody = key.privateKey.split("\n")[1];

    const testbed = await SshdTestbed.start({ authorizedKeys: [key.publicKey] });
    const sshd = testbed.instances[0];
    const targets = [
      "version: 1",
      "targets:",
      "  - id: local",
      "    type: local",
      "    capabilities: [file:read]",
      "    files:",
      `      roots: [${root}]`,
      "  - id: remote",
      "    type: ssh",
      "    capabilities: [file:read]",
      "    connection:",
      `      host: ${sshd.host}`,
      `      port: ${sshd.port}`,
      `      user: ${testbed.user}`,
      `      key: "file:${key.path}"`,
      `      host_key: "${testbed.hostKeys[0].fingerprint}"`,
      "    files:",
      `      roots: [${root}]`,
    ].join("\n");
    try {
      await using gateway = await startGateway({
        targets,
        // The state directory lies inside the root: only the protected list keeps it out.
        flags: ["--no-auth", "--state-dir", state],
      });
      const client = await connectHttp(gateway);
      const read = (target: string, path: string, extra: Record<string, unknown> = {}) =>
        call(client, "read_file", { target, path, ...extra });
      const list = (target: string, path: string) =>
        call(client, "list_directory", { target, path });
      const refused = async (
        pending: ReturnType<typeof read>,
        codes: string[],
        what: string,
      ) => {
        const called = await pending;
        const entry = called.results[0];
        assert.ok(entry?.error, `${what}: expected a refusal, found ${called.text}`);
        assert.ok(codes.includes(entry.error.code), `${what}: ${JSON.stringify(entry.error)}`);
        assert.doesNotMatch(JSON.stringify(called), /OUTSIDE-SECRET|PRIVATE KEY|"seq"/, what);
        return entry.error;
      };
      try {
        for (const target of ["local", "remote"]) {
          await t.step(
            `${target}: a regular file and a symlink inside the root are read`,
            async () => {
              const plain = await read(target, `${root}/hello.txt`);
              assert.equal(plain.results[0].data?.content, "hello\n", plain.text);
              const linked = await read(target, `${root}/link-in`);
              assert.equal(linked.results[0].data?.content, "hello\n", linked.text);
              assert.equal(linked.results[0].data?.path, `${root}/hello.txt`);
            },
          );

          await t.step(
            `${target}: 40 reads of a FIFO at once are refused and nothing hangs`,
            async () => {
              const calls = Array.from({ length: 40 }, (_, i) =>
                refused(
                  read(target, `${root}/${i % 2 ? "fifo" : "link-fifo"}`),
                  ["forbidden"],
                  "fifo",
                ));
              const errors = await Promise.all(calls);
              assert.match(errors[1].message, /FIFO|regular file/);
              // The file code is still free: a plain read answers.
              const after = await read(target, `${root}/hello.txt`);
              assert.equal(after.results[0].data?.content, "hello\n", after.text);
              await refused(list(target, `${root}/fifo`), ["forbidden"], "list fifo");
            },
          );

          await t.step(`${target}: sockets and devices are refused`, async () => {
            await refused(read(target, `${root}/sock`), ["forbidden"], "socket");
            if (haveDevice) await refused(read(target, `${root}/null`), ["forbidden"], "device");
          });

          await t.step(`${target}: symlinks leading outside the roots are refused`, async () => {
            await refused(read(target, `${root}/link-out`), ["forbidden"], "link-out");
            await refused(list(target, `${root}/dir-link-out`), ["forbidden"], "dir-link-out");
            await refused(
              read(target, `${root}/dir-link-out/secret.txt`),
              ["forbidden"],
              "through a dir link",
            );
          });
        }

        await t.step("local: the key file is refused whole and in 3-byte pieces", async () => {
          for (const path of [key.path, `${root}/link-key`, `${root}/hardlink-key`]) {
            for (let offset = 0; offset < 60; offset += 3) {
              const error = await refused(
                read("local", path, { offset, max_bytes: 3 }),
                ["forbidden"],
                `${path}@${offset}`,
              );
              assert.match(error.message, /gateway's own secrets/);
            }
          }
          const whole = await read("local", key.path);
          assert.ok(!whole.text.includes(keyBody), "the key body never comes back");
        });

        await t.step(
          "local: the state directory, its audit log and signing key are refused",
          async () => {
            await refused(list("local", state), ["forbidden"], "list state");
            await refused(list("local", `${root}/link-state`), ["forbidden"], "list link-state");
            await refused(list("local", `${state}/keys`), ["forbidden"], "list state/keys");
            await refused(read("local", `${state}/audit.jsonl`), ["forbidden"], "audit log");
            await refused(
              read("local", `${state}/keys/gateway.jwk.json`),
              ["forbidden"],
              "signing key",
            );
            // The root itself lists, names included: names are not the secret.
            const listed = await list("local", root);
            const names = (listed.results[0].data?.entries as { name: string }[]).map((e) =>
              e.name
            );
            assert.ok(names.includes("state") && names.includes("hello.txt"), listed.text);
          },
        );
      } finally {
        await client.close();
      }
    } finally {
      socket.close();
      await testbed.stop();
      await Deno.remove(base, { recursive: true });
    }
  },
});
