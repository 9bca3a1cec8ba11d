import assert from "node:assert/strict";
import { firewallStatus, parseFirewall } from "../../src/ops/firewall_status.ts";
import { systemReboot } from "../../src/ops/system_reboot.ts";
import { OperationError } from "../../src/ops/operation.ts";
import { asExec, cmd, exec, has, localTarget, runPlan, sshTarget } from "./_host_helpers.ts";

Deno.test("parseFirewall() reads iptables -S, nft list ruleset and ufw status", () => {
  const ipt = parseFirewall(
    "iptables",
    "-P INPUT DROP\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n",
  );
  assert.deepEqual(ipt.policies, { INPUT: "DROP", FORWARD: "DROP", OUTPUT: "ACCEPT" });
  assert.deepEqual(ipt.rules, ["-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"]);
  const nft = parseFirewall(
    "nft",
    `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		tcp dport 22 accept
	}
	chain output {
		type filter hook output priority filter; policy accept;
	}
}
`,
  );
  assert.deepEqual(nft.policies, { input: "drop", output: "accept" });
  assert.deepEqual(nft.rules, ["ct state established,related accept", "tcp dport 22 accept"]);
  const ufw = parseFirewall(
    "ufw",
    "Status: active\nDefault: deny (incoming), allow (outgoing)\n22/tcp ALLOW IN Anywhere\n",
  );
  assert.equal(ufw.active, true);
  assert.equal(ufw.rule_count, 1);
  assert.equal(ufw.policies.default, "deny (incoming), allow (outgoing)");
});

Deno.test("firewall_status prefers ufw, then nft, then iptables, under sudo only where listed", () => {
  const args = firewallStatus.input.parse({});
  const plan = asExec(firewallStatus.plan(args, sshTarget(["firewall_status"])));
  assert.equal(plan.mode, "first_available");
  assert.deepEqual(plan.commands.map((c) => c[0]), ["ufw", "nft", "iptables"]);
  assert.equal(plan.sudo, true);
  assert.equal(asExec(firewallStatus.plan(args, sshTarget())).sudo, false);
  assert.throws(
    () =>
      firewallStatus.parse(
        exec(cmd(["iptables", "-S"], "", {
          exitCode: 4,
          stderr: "iptables v1.8.9 (nf_tables): Permission denied (you must be root)",
        })),
        args,
      ),
    (e) => e instanceof OperationError && e.code === "forbidden" && /sudo list/.test(e.message),
  );
});

Deno.test({
  name: "firewall_status reads this machine's real rules as root",
  ignore: !has("iptables") || Deno.uid() !== 0,
  fn: async () => {
    const args = firewallStatus.input.parse({});
    const out = firewallStatus.parse(
      await runPlan(asExec(firewallStatus.plan(args, localTarget()))),
      args,
    );
    assert.ok(["ufw", "nft", "iptables"].includes(out.tool));
    if (out.tool === "iptables") assert.ok("INPUT" in out.policies);
  },
});

Deno.test("system_reboot always schedules a delay and refuses anything else", () => {
  const plan = asExec(
    systemReboot.plan(systemReboot.input.parse({ delay_minutes: 5 }), sshTarget(["system_reboot"])),
  );
  assert.deepEqual(plan.commands, [["shutdown", "-r", "+5"]]);
  assert.equal(plan.sudo, true);
  assert.equal(systemReboot.destructive, true);
  assert.equal(systemReboot.tier, "admin");
  for (
    const bad of [{ delay_minutes: 0 }, { delay_minutes: 1441 }, { delay_minutes: "now" }, {
      when: "now",
    }]
  ) {
    assert.equal(systemReboot.input.safeParse(bad).success, false, JSON.stringify(bad));
  }
  const args = systemReboot.input.parse({});
  assert.equal(args.delay_minutes, 1);
  assert.throws(
    () =>
      systemReboot.parse(
        exec(
          cmd(["shutdown"], "", {
            exitCode: 1,
            stderr: "Failed to set wall message, ignoring: Interactive authentication required.",
          }),
        ),
        args,
      ),
    (e) => e instanceof OperationError && e.code === "forbidden",
  );
});
