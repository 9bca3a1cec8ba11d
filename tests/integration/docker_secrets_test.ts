/**
 * Secrets in container configuration through the real gateway and a real
 * dockerd: containers created with database passwords in env, credentials
 * in URLs, password options in Cmd and Entrypoint, and secrets in labels.
 * `container_inspect` and `container_list` show every name and no secret
 * value.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import { connectHttp, readAudit, startGateway } from "./_gateway.ts";
import { call } from "./_mcp_checks.ts";

const SECRETS = {
  pg: "pg-Secret-0001",
  mysql: "my-Secret-0002",
  dbPass: "db-Secret-0003",
  url: "url-Secret-0004",
  redis: "redis-Secret-0005",
  cmdEq: "cmd-Secret-0006",
  cmdNext: "cmd-Secret-0007",
  mysqlP: "cmd-Secret-0008",
  shell: "sh-Secret-0009",
  label: "label-Secret-0010",
  labelUrl: "label-Secret-0011",
  apiKey: "key-Secret-0012",
  dsn: "dsn-Secret-0013",
  entry: "entry-Secret-0014",
};

Deno.test("container_inspect and container_list redact secrets in env, argv and labels, keeping the names", async () => {
  const docker = await DockerdTestbed.start();
  try {
    const s = SECRETS;
    const env = [
      `PGPASSWORD=${s.pg}`,
      `MYSQL_PWD=${s.mysql}`,
      `DB_PASS=${s.dbPass}`,
      `DATABASE_URL=postgres://app:${s.url}@db:5432/app`,
      `REDIS_URL=redis://:${s.redis}@cache:6379/0`,
      `API_KEY=${s.apiKey}`,
      `PG_DSN=host=db user=app password=${s.dsn}`,
      "KEYBOARD=us",
      "MODE=production",
    ];
    const labels = {
      "com.example.db-password": s.label,
      "com.example.backup-target": `s3://backup:${s.labelUrl}@minio:9000/bucket`,
      "com.docker.compose.project": "shop",
    };
    await docker.docker(
      "create",
      "--network",
      "none",
      "--name",
      "leaky",
      ...env.flatMap((e) => ["--env", e]),
      ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
      "--entrypoint",
      "/bin/sh",
      docker.image ?? "tailops-test:latest",
      "-c",
      `mysql -u root -p${s.mysqlP} && app --password=${s.cmdEq} --token ${s.cmdNext} ` +
        `--db-password='${s.shell}' --port 8080 --admin-pass=${s.entry}`,
    );
    await docker.docker(
      "run",
      "-d",
      "--network",
      "none",
      "--name",
      "argv",
      "--label",
      `com.example.api-token=${s.label}`,
      docker.image ?? "tailops-test:latest",
      "sleep",
      "600",
      "--password",
      s.cmdNext,
      `--secret=${s.cmdEq}`,
    );

    await using gateway = await startGateway({
      targets: [
        "targets:",
        "  - id: engine",
        "    type: docker",
        "    capabilities: [container:read]",
        `    connection: { socket: ${docker.socket} }`,
      ].join("\n"),
    });
    const client = await connectHttp(gateway);
    try {
      const inspect = await call(client, "container_inspect", {
        target: "engine",
        container: "leaky",
      });
      assert.equal(inspect.results[0].status, "ok", inspect.text);
      const config = (inspect.results[0].data as {
        config: {
          env: string[];
          cmd: string[];
          entrypoint: string[];
          labels: Record<string, string>;
        };
      }).config;
      for (
        const name of [
          "PGPASSWORD=[REDACTED]",
          "MYSQL_PWD=[REDACTED]",
          "DB_PASS=[REDACTED]",
          "DATABASE_URL=postgres://app:[REDACTED]@db:5432/app",
          "REDIS_URL=redis://:[REDACTED]@cache:6379/0",
          "API_KEY=[REDACTED]",
          "KEYBOARD=us",
          "MODE=production",
        ]
      ) {
        assert.ok(config.env.includes(name), `${name} in ${config.env}`);
      }
      assert.ok(config.env.some((e) => e.startsWith("PG_DSN=")));
      assert.equal(config.labels["com.example.db-password"], "[REDACTED]");
      assert.equal(
        config.labels["com.example.backup-target"],
        "s3://backup:[REDACTED]@minio:9000/bucket",
      );
      assert.equal(config.labels["com.docker.compose.project"], "shop");
      const shell = config.cmd.join(" ");
      for (
        const kept of [
          "mysql -u root -p",
          "--password=",
          "--token",
          "--db-password=",
          "--port 8080",
        ]
      ) {
        assert.ok(shell.includes(kept), `${kept} in ${shell}`);
      }
      assert.deepEqual(config.entrypoint, ["/bin/sh"]);

      const list = await call(client, "container_list", { target: "engine", all: true });
      assert.equal(list.results[0].status, "ok", list.text);
      const listed = (list.results[0].data as {
        containers: { name: string; labels: Record<string, string> }[];
      }).containers;
      const leaky = listed.find((c) => c.name === "leaky");
      assert.equal(leaky?.labels["com.example.db-password"], "[REDACTED]");
      const argv = listed.find((c) => c.name === "argv");
      assert.equal(argv?.labels["com.example.api-token"], "[REDACTED]");

      const argvInspect = await call(client, "container_inspect", {
        target: "engine",
        container: "argv",
      });
      assert.equal(argvInspect.results[0].status, "ok", argvInspect.text);
      const cmd = (argvInspect.results[0].data as { config: { cmd: string[] } }).config.cmd;
      assert.deepEqual(cmd, ["sleep", "600", "--password", "[REDACTED]", "--secret=[REDACTED]"]);

      const everything = [inspect, list, argvInspect].map((r) => JSON.stringify(r.results) + r.text)
        .join("\n");
      for (const [what, secret] of Object.entries(SECRETS)) {
        assert.ok(!everything.includes(secret), `${what} (${secret}) leaked`);
      }
      const audit = JSON.stringify(await readAudit(gateway.auditFile));
      for (const secret of Object.values(SECRETS)) assert.ok(!audit.includes(secret));
    } finally {
      await client.close();
    }
  } finally {
    await docker.close();
  }
});
