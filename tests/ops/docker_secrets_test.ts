import assert from "node:assert/strict";
import { isSensitiveName } from "../../src/audit/redact.ts";
import {
  redactArgv,
  redactConfigText,
  redactEnv,
  redactLabels,
} from "../../src/ops/_docker_secrets.ts";

Deno.test("isSensitiveName() flags credential names in every spelling and leaves look-alikes", () => {
  const sensitive = [
    "PGPASSWORD",
    "MYSQL_PWD",
    "MYSQL_ROOT_PASSWORD",
    "DB_PASS",
    "SMTP_PASSWD",
    "POSTGRES_PASSWORD_FILE",
    "GITHUB_TOKEN",
    "githubToken",
    "AWS_SECRET_ACCESS_KEY",
    "API_KEY",
    "apiKey",
    "X-Api-Key",
    "STRIPE_PRIVATE_KEY",
    "SENTRY_DSN",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "DOCKER_AUTH_CONFIG",
    "traefik.http.middlewares.a.basicauth.users",
    "com.example.db-password",
    "--requirepass",
    "masterauth",
    "JWT_SIGNING_KEY",
    "SESSION_SECRET",
    "COOKIE_SALT",
  ];
  for (const name of sensitive) assert.ok(isSensitiveName(name), name);
  const ordinary = [
    "PATH",
    "HOME",
    "KEYBOARD",
    "MONKEY",
    "BYPASS",
    "PASSENGER_COUNT",
    "AUTHOR",
    "MODE",
    "com.docker.compose.project",
    "org.opencontainers.image.source",
    "DATABASE_URL",
    "--port",
  ];
  for (const name of ordinary) assert.equal(isSensitiveName(name), false, name);
});

Deno.test("redactConfigText() masks URL passwords, NAME=value pairs and option values", () => {
  const cases: [string, string][] = [
    ["postgres://app:p4ss@db:5432/app", "postgres://app:[REDACTED]@db:5432/app"],
    ["redis://:hunter2@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"],
    ["mongodb://u:p@ss@h/db", "mongodb://u:[REDACTED]@h/db"],
    ["https://example.com/path?q=1", "https://example.com/path?q=1"],
    ["host=db user=app password=pw1 dbname=x", "host=db user=app password=[REDACTED] dbname=x"],
    ["--password=abc --user bob", "--password=[REDACTED] --user bob"],
    ["run --token abc --port 80", "run --token [REDACTED] --port 80"],
    ["DB_PASSWORD='a b c' exec app", "DB_PASSWORD=[REDACTED] exec app"],
    ['{"password": "x y"}', '{"password": [REDACTED]}'],
    ["mysql -uroot -psecret db", "mysql -uroot -p[REDACTED] db"],
    ["ls -p /tmp", "ls -p /tmp"],
  ];
  for (const [text, expected] of cases) assert.equal(redactConfigText(text), expected, text);
});

Deno.test("redactEnv() and redactLabels() keep every name and hide secret values", () => {
  assert.deepEqual(
    redactEnv(["PGPASSWORD=x1", "URL=mysql://u:x2@h/db", "MODE=prod", "EMPTY", "KEYBOARD=us"]),
    ["PGPASSWORD=[REDACTED]", "URL=mysql://u:[REDACTED]@h/db", "MODE=prod", "EMPTY", "KEYBOARD=us"],
  );
  assert.deepEqual(
    redactLabels({ "a.secret": "x", "b.url": "ftp://u:x@h", "c": "plain" }),
    { "a.secret": "[REDACTED]", "b.url": "ftp://u:[REDACTED]@h", "c": "plain" },
  );
});

Deno.test("redactArgv() masks password options in each form, not ordinary options", () => {
  assert.equal(redactArgv(null), null);
  assert.deepEqual(
    redactArgv(["app", "--password=x", "--token", "y", "--api-key", "z", "--port", "80", "-v"]),
    [
      "app",
      "--password=[REDACTED]",
      "--token",
      "[REDACTED]",
      "--api-key",
      "[REDACTED]",
      "--port",
      "80",
      "-v",
    ],
  );
  // A flag followed by another long option has no value to hide.
  assert.deepEqual(redactArgv(["app", "--no-auth", "--verbose"]), [
    "app",
    "--no-auth",
    "--verbose",
  ]);
  assert.deepEqual(redactArgv(["mysqladmin", "ping", "-psecret"]), [
    "mysqladmin",
    "ping",
    "-p[REDACTED]",
  ]);
  assert.deepEqual(redactArgv(["/usr/bin/mariadb-dump", "-pX", "db"]), [
    "/usr/bin/mariadb-dump",
    "-p[REDACTED]",
    "db",
  ]);
  // -p means something else to other programs.
  assert.deepEqual(redactArgv(["nginx", "-p", "/etc/nginx"]), ["nginx", "-p", "/etc/nginx"]);
  assert.deepEqual(
    redactArgv(["sh", "-c", "mysql -ps3 && curl https://u:pw@x.io --api-key=zz"]),
    ["sh", "-c", "mysql -p[REDACTED] && curl https://u:[REDACTED]@x.io --api-key=[REDACTED]"],
  );
});

Deno.test("redactConfigText() finishes on large hostile values (no backtracking blow-up)", () => {
  const hostile = [
    "a://".repeat(50_000),
    "x://u:" + "@".repeat(100_000),
    "password=" + "a".repeat(200_000),
    "--" + "p".repeat(127) + " " + "mysql/".repeat(30_000),
    '"' + "k".repeat(200_000) + '":',
  ];
  for (const text of hostile) {
    const out = redactConfigText(text);
    assert.ok(out.length <= text.length + 20, text.slice(0, 20));
  }
});
