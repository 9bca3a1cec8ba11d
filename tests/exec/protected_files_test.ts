/**
 * The gateway's secret sources as the local worker receives them: every
 * `file:` reference in targets and policy, and each protected path by name,
 * real path and `dev:ino` of what lies below it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import { describeProtectedFiles, secretFilePaths } from "../../src/exec/protected_files.ts";

Deno.test("secretFilePaths() lists every file: secret reference once, and no env reference", async () => {
  const target = (id: string, bearer: string) => [
    `  - id: ${id}`,
    "    type: http",
    "    capabilities: [http:read]",
    "    connection:",
    `      base_url: https://127.0.0.1:8443/${id}`,
    `      auth: { bearer: "${bearer}" }`,
  ];
  const registry = await parseTargets(
    [
      "version: 1",
      "targets:",
      ...target("a", "file:/etc/tailops/api.token"),
      ...target("b", "file:/etc/tailops/api.token"),
      ...target("c", "${API_TOKEN}"),
    ].join("\n"),
    "t.yaml",
    { resolveSecrets: false },
  );
  const paths = secretFilePaths(registry.targets);
  assert.deepEqual(paths, ["/etc/tailops/api.token"]);
});

Deno.test("describeProtectedFiles() keeps names, real paths and dev:ino of files below a directory", async () => {
  const base = await Deno.makeTempDir({ prefix: "tailops-protected-" });
  try {
    await Deno.mkdir(`${base}/state/keys`, { recursive: true });
    await Deno.writeTextFile(`${base}/state/keys/k.json`, "{}");
    await Deno.symlink(`${base}/state`, `${base}/state-link`);
    const described = describeProtectedFiles([`${base}/state-link`, `${base}/not-yet`]);
    const real = await Deno.realPath(`${base}/state`);
    assert.ok(described.paths.includes(`${base}/state-link`));
    assert.ok(described.paths.includes(real));
    assert.ok(described.paths.includes(`${base}/not-yet`));
    for (const path of [`${base}/state`, `${base}/state/keys`, `${base}/state/keys/k.json`]) {
      const info = await Deno.stat(path);
      assert.ok(described.ids.includes(`${info.dev}:${info.ino}`), path);
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
