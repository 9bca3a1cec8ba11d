import assert from "node:assert/strict";
import { composePsArgv, composeSettled, parseComposePs } from "../../src/exec/compose_ps.ts";
import { firstAvailableScript } from "../../src/exec/ssh_command_line.ts";

const line = (service: string, name: string, state: string, status: string) =>
  JSON.stringify({ service, name, state, status });

Deno.test("parseComposePs() reads one container per line with its health, by service", () => {
  const out = parseComposePs(
    [
      line("probe", "m_probe_1", "running", "Up 3 seconds (health: starting)"),
      line("exporter", "m_exporter_1", "running", "Up 9 seconds (healthy)"),
      "",
    ].join("\n"),
  );
  assert.deepEqual(out.map((c) => [c.service, c.health]), [
    ["exporter", "healthy"],
    ["probe", "starting"],
  ]);
  assert.throws(() => parseComposePs('{"service":1}'), TypeError);
  assert.throws(() => parseComposePs("Cannot connect to the Docker daemon"), SyntaxError);
});

Deno.test("composeSettled() needs a running, healthy-or-unchecked container for every service", () => {
  const up = parseComposePs(line("a", "a1", "running", "Up 2 seconds"));
  assert.equal(composeSettled(up, ["a"]), true);
  assert.equal(composeSettled(up, ["a", "b"]), false, "b has no container");
  for (
    const [state, status] of [
      ["running", "Up 2 seconds (health: starting)"],
      ["running", "Up 2 seconds (unhealthy)"],
      ["exited", "Exited (1) 1 second ago"],
      ["restarting", "Restarting (1) 1 second ago"],
    ]
  ) {
    assert.equal(composeSettled(parseComposePs(line("a", "a1", state, status)), ["a"]), false);
  }
});

Deno.test("composePsArgv() filters by the project label and formats one JSON object per line", () => {
  const argv = composePsArgv("monitoring");
  assert.deepEqual(argv.slice(0, 6), [
    "docker",
    "ps",
    "--all",
    "--no-trunc",
    "--filter",
    "label=com.docker.compose.project=monitoring",
  ]);
  assert.equal(argv[6], "--format");
});

Deno.test("firstAvailableScript() runs a probe (under sudo with the command) before choosing", () => {
  const script = firstAvailableScript(
    [["docker", "compose", "up"], ["docker-compose", "up"]],
    true,
    [["docker", "compose", "version"], null],
  );
  assert.equal(
    script,
    "if sudo -n -- 'docker' 'compose' 'version' >/dev/null 2>&1; then echo 'tailops:0' >&2; " +
      "exec sudo -n -- 'docker' 'compose' 'up'; " +
      "elif command -v 'docker-compose' >/dev/null 2>&1; then echo 'tailops:1' >&2; " +
      "exec sudo -n -- 'docker-compose' 'up'; " +
      "else echo 'tailops: none of docker, docker-compose is installed' >&2; exit 127; fi",
  );
});
