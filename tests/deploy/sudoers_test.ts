/**
 * deploy/sudoers.example allows exactly the command lines the gateway runs
 * under `sudo -n` on an SSH target (sudo compares whole command lines, so a
 * rule that drifts from the plan builders silently stops working), and
 * visudo accepts it.
 */
import assert from "node:assert/strict";
import { REPO_DIR } from "../integration/_gateway.ts";
import { CATALOG } from "../../src/ops/catalog.ts";
import { sshTarget } from "../ops/_host_helpers.ts";

const EXAMPLE = `${REPO_DIR}/deploy/sudoers.example`;

/** The commands of every Cmnd_Alias, unescaped. */
async function allowed(): Promise<string[]> {
  const text = (await Deno.readTextFile(EXAMPLE)).replace(/\\\n/g, " ");
  return text.split("\n")
    .filter((l) => l.startsWith("Cmnd_Alias "))
    .flatMap((l) => l.slice(l.indexOf("=") + 1).split(/(?<!\\),/))
    .map((c) => c.trim().replace(/\s+/g, " ").replace(/\\([,:=\\])/g, "$1"));
}

function commands(operation: string, args: Record<string, unknown>): string[] {
  const op = CATALOG.find((o) => o.name === operation)!;
  const target = sshTarget([operation]);
  const plan = op.plan(op.input.parse(args), target);
  assert.equal(plan.kind, "exec");
  if (plan.kind !== "exec") throw new Error("not an exec plan");
  assert.equal(plan.sudo, true);
  return plan.commands.map((argv) => `/usr/bin/${argv.join(" ")}`);
}

Deno.test("sudoers.example allows exactly what service_control and package_upgrade run under sudo", async () => {
  const rules = await allowed();
  const wanted = [
    ...["start", "stop", "restart", "reload"].flatMap((action) =>
      commands("service_control", { unit: "nginx.service", action })
    ),
    commands("package_upgrade", { all: true })[0],
  ];
  assert.deepEqual([...new Set(wanted)].sort(), [...rules].sort());
});

Deno.test({
  name: "visudo accepts sudoers.example",
  ignore: !(() => {
    try {
      return Deno.statSync("/usr/sbin/visudo").isFile;
    } catch {
      console.warn("sudoers_test: visudo check skipped: no visudo (apt-get install sudo)");
      return false;
    }
  })(),
  async fn() {
    const out = await new Deno.Command("/usr/sbin/visudo", { args: ["-c", "-f", EXAMPLE] })
      .output();
    assert.equal(
      out.code,
      0,
      new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
    );
  },
});
