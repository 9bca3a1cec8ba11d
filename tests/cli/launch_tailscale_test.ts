/**
 * `tailops launch` grants the gateway the private Tailscale socket when the
 * policy turns Tailscale identity on: Deno needs `net: unix:PATH` (an exact
 * path) even to listen, so without it a launched gateway could not start.
 */
import assert from "node:assert/strict";
import { launchArgs } from "../../src/cli/launch.ts";

async function flagsFor(auth: string, extra: string[] = []): Promise<string[]> {
  const dir = await Deno.makeTempDir();
  try {
    const policy = await Deno.readTextFile(new URL("../../policy/default.yaml", import.meta.url));
    await Deno.writeTextFile(`${dir}/policy.yaml`, `${policy}\n${auth}`);
    return await launchArgs([
      "--transport",
      "http",
      "--listen",
      "127.0.0.1:0",
      "--policy",
      `${dir}/policy.yaml`,
      "--state-dir",
      `${dir}/state`,
      ...extra,
    ]).then((args) => args.map((a) => a.replaceAll(dir, "DIR")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const netOf = (args: string[]) => args.find((a) => a.startsWith("--allow-net=")) ?? "";

Deno.test("launch grants the Tailscale serve socket when the policy enables Tailscale identity", async () => {
  const args = await flagsFor("auth:\n  tailscale: { enabled: true }\n");
  assert.match(netOf(args), /unix:DIR\/state\/tailscale\/serve\.sock/);
});

Deno.test("launch grants no Tailscale socket when Tailscale identity is off", async () => {
  const args = await flagsFor("auth:\n  tailscale: { enabled: false }\n");
  assert.doesNotMatch(netOf(args), /serve\.sock/);
});
