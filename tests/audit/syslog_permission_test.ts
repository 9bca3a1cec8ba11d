import assert from "node:assert/strict";

const SYSLOG = new URL("../../src/audit/syslog.ts", import.meta.url).href;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

async function sendUnder(grants: string[]): Promise<{ code: number; out: string }> {
  const script = `import { sendSyslog } from ${JSON.stringify(SYSLOG)};
const reason = await sendSyslog("127.0.0.1:9", "<134>1 test");
console.log(JSON.stringify(reason ?? "sent"));`;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, script);
  const out = await new Deno.Command(Deno.execPath(), {
    // `deno eval` would grant everything: run a file under exactly these grants.
    args: ["run", "--no-prompt", `--config=${CONFIG}`, `--allow-read=${file}`, ...grants, file],
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(file));
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text };
}

Deno.test("a syslog send without net permission is a reason, never an uncaught error that ends the process", async () => {
  for (
    const grants of [
      [],
      ["--allow-net=127.0.0.1:9"],
      ["--allow-net=0.0.0.0:0"],
    ]
  ) {
    const run = await sendUnder(grants);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /expected net permission for/, run.out);
  }
  const granted = await sendUnder(["--allow-net=127.0.0.1:9,0.0.0.0:0"]);
  assert.equal(granted.code, 0, granted.out);
  assert.match(granted.out, /"sent"|cannot send/, granted.out);
});
