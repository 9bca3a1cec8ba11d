import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { parse } from "yaml";
import { loadPositionParser, parseYaml, readFast } from "../../src/config/yaml_source.ts";

// The synchronous parsing below needs `yaml` loaded (the gateway loads it on demand).
await loadPositionParser();

const REPO = new URL("../../", import.meta.url);

// Scalars where YAML 1.1 and 1.2 or two parsers could disagree.
const SCALARS = [
  "1_000",
  "0b101",
  "+12",
  "-0",
  "0o17",
  "017",
  "0x1F",
  ".inf",
  "-.Inf",
  "1e3",
  "1.",
  "+.5",
  "1:20",
  "2024-01-01",
  "yes",
  "No",
  "on",
  "~",
  "Null",
  "TRUE",
  "tRUE",
  "'it''s'",
  '"\\u00e9\\x41"',
  "a # c",
  "'x\n  y'",
  "00",
  "09",
  // Where js-yaml's own core schema reads YAML 1.1 numbers.
  "1__0",
  "-1_0",
  "0_1",
  "-0x1F",
  "+0o7",
  "0o8",
  "0xG",
  "0o",
  "0x",
  "-017",
  "+0",
  "0.",
  "-.5",
  "1E3",
  "1.5e-3",
  "1e",
  ".5e3",
  "+.inf",
  ".NaN",
  ".NAN",
  "-.nan",
  "nULL",
  "True",
  "FALSE",
  "",
  "1_000.5",
  "9007199254740993",
  "0x7fffffffffffffff",
];

Deno.test("parseYaml() reads scalars as the yaml package's YAML 1.2 core schema does", () => {
  for (const scalar of SCALARS) {
    const text = `key: ${scalar}\nlist: [${/[#\n]/.test(scalar) ? "1" : scalar}]\n`;
    assertEquals(parseYaml(text, "t.yaml").value, parse(text), `for ${JSON.stringify(scalar)}`);
  }
});

Deno.test("parseYaml() reads the shipped files as the yaml package does", async () => {
  const files = ["targets.example.yaml", "policy/default.yaml", "policy/homelab.yaml"];
  for (const file of [...files, "policy/production.yaml"]) {
    const text = await Deno.readTextFile(new URL(file, REPO));
    assertEquals(parseYaml(text, file).value, parse(text), file);
  }
});

Deno.test("every shipped YAML file is read by the fast parser (the slow one costs start-up time)", async () => {
  const shipped = new Deno.Command("git", {
    args: ["ls-files", "*.yaml", "*.yml"],
    cwd: REPO,
    stdout: "piped",
  }).outputSync();
  const files = new TextDecoder().decode(shipped.stdout).split("\n")
    .filter((file) => file !== "" && !file.startsWith("tests/"));
  assertEquals(files.includes("policy/default.yaml"), true, files.join(", "));
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(file, REPO));
    assertEquals(
      readFast(text)?.value,
      parse(text),
      `${file}: js-yaml refuses it (a multi-line flow list written "key: [" closes with a "]" that` +
        ` deno fmt puts at the key's indentation: put the "[" on a line of its own)`,
    );
  }
});

Deno.test("parseYaml() still refuses alias bombs and duplicate keys, at their positions", () => {
  const bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [" + "*a, ".repeat(20) + "*a]\nc: [" +
    "*b, ".repeat(20) + "*b]\n";
  throws(
    () => parseYaml(bomb, "bomb.yaml"),
    (error: unknown) =>
      error instanceof ConfigError && /Excessive alias count/.test(error.problems[0].message),
  );
  throws(
    () => parseYaml("a: 1\nb: 2\na: 3\n", "dup.yaml"),
    (error: unknown) =>
      error instanceof ConfigError && error.problems[0].position?.line === 3 &&
      /unique/.test(error.problems[0].message),
  );
});

Deno.test("parseYaml() finds positions in text the fast parser read", () => {
  const source = parseYaml("targets:\n  - id: a\n    port: 70000\n", "p.yaml");
  assertEquals(source.positionOf(["targets", 0, "port"]), { file: "p.yaml", line: 3, column: 11 });
});

Deno.test("parseYaml() reads anchors, aliases and collection keys as the yaml package does", () => {
  for (
    const text of [
      "base: &b { user: ops, port: 22 }\nhosts:\n  - *b\n  - { user: root }\n",
      "? [a, b]\n: 1\n",
      "x: {[a]: 1, {b: 2}: 3}\n",
      "[]: 1\n",
      "- ? a\n  : 1\n",
    ]
  ) {
    assertEquals(parseYaml(text, "a.yaml").value, parse(text), JSON.stringify(text));
  }
});
