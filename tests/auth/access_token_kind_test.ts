import assert from "node:assert/strict";
import { duplicateMember, readJwtParts } from "../../src/auth/_jwt_parts.ts";
import { normalisedTyp, notAnAccessTokenJwt } from "../../src/auth/access_token_kind.ts";

const segment = (json: string) =>
  btoa(json).replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");

Deno.test("duplicateMember() finds a top-level name written twice, escaped or not, and nothing nested", () => {
  assert.equal(duplicateMember('{"a":1,"b":2,"a":3}'), "a");
  assert.equal(duplicateMember('{"typ":"JWT","\\u0074yp":"at+jwt"}'), "typ");
  assert.equal(duplicateMember('{"a":{"x":1,"x":2},"b":["a","a"]}'), undefined);
  assert.equal(duplicateMember('{"a":"\\"a\\",\\"a\\":","b":1}'), undefined);
  assert.equal(duplicateMember(' { "a" : 1 , "a" : 2 } '), "a");
});

Deno.test("readJwtParts() refuses segments that are not JSON objects in UTF-8", () => {
  assert.match(String(readJwtParts(`${segment("[1]")}.${segment("{}")}.x`)), /well-formed/);
  assert.match(String(readJwtParts(`${segment("{}")}.${segment('"s"')}.x`)), /well-formed/);
  assert.match(String(readJwtParts(`${segment("{}")}.${btoa("\xff\xfe")}.x`)), /well-formed/);
  assert.match(
    String(readJwtParts(`${segment('{"alg":"a","alg":"b"}')}.${segment("{}")}.x`)),
    /"alg" twice/,
  );
  assert.deepEqual(readJwtParts(`${segment('{"alg":"ES256"}')}.${segment('{"a":1}')}.x`), {
    header: { alg: "ES256" },
    payload: { a: 1 },
  });
});

Deno.test("normalisedTyp() compares typ case-insensitively without application/, and no typ is JWT", () => {
  assert.equal(normalisedTyp(undefined), "jwt");
  assert.equal(normalisedTyp("Application/AT+JWT"), "at+jwt");
  assert.equal(normalisedTyp(7), undefined);
  assert.equal(normalisedTyp("application/"), "");
});

Deno.test("notAnAccessTokenJwt() refuses an audience that names the token's own client_id", () => {
  const header = { alg: "ES256", typ: "at+jwt" };
  const payload = { aud: ["c1", "https://gw/mcp"], client_id: "c1" };
  assert.match(String(notAnAccessTokenJwt({ header, payload }, ["at+jwt"])), /own client "c1"/);
  assert.equal(
    notAnAccessTokenJwt({ header, payload: { aud: "https://gw/mcp", client_id: "c1" } }, [
      "at+jwt",
    ]),
    undefined,
  );
});
