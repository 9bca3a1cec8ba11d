import assert from "node:assert/strict";
import { scrubbedJsonLine, setLogScrubber } from "../../src/cli/logging.ts";
import { SecretScanner } from "../../src/audit/redact.ts";

Deno.test("log lines pass through the gateway's secret scanner, encoded forms included", () => {
  const secret = "Tk-9f/3+a=Zq&x%7Ey!Secret42";
  setLogScrubber((text) => new SecretScanner([secret]).scan(text));
  try {
    const line = scrubbedJsonLine({
      category: ["tailops", "test"],
      level: "warning",
      message: ["Write failed: ", `${secret} ${btoa(secret)} ${encodeURIComponent(secret)}`],
      rawMessage: "Write failed: {why}",
      timestamp: Date.now(),
      properties: { why: secret },
    });
    assert.ok(!line.includes(secret), line);
    assert.ok(!line.includes(btoa(secret)), line);
    assert.ok(!line.includes(encodeURIComponent(secret)), line);
    assert.match(line, /\[REDACTED\]/);
    JSON.parse(line);
  } finally {
    setLogScrubber((text) => text);
  }
});
