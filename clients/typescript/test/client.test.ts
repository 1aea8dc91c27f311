import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createPanelsClient, isProblem, type Problem } from "../src/index.js";
import { baseUrl, client, must, serverClient, serverUrl, token, unique } from "./helpers.js";

describe("createPanelsClient", () => {
  it("sends the bearer token on every request", async () => {
    const seen: string[] = [];
    const api = createPanelsClient({
      baseUrl: baseUrl + "/",
      token,
      fetch: (input, init) => {
        const req = new Request(input, init);
        seen.push(req.headers.get("Authorization") ?? "");
        return fetch(req);
      },
    });
    must(await api.GET("/api/panels"), 200);
    assert.deepEqual(seen, [`Bearer ${token}`]);
  });

  it("takes the token from a function", async () => {
    let calls = 0;
    const api = createPanelsClient({ baseUrl, token: () => { calls++; return token; } });
    must(await api.GET("/api/panels"), 200);
    must(await api.GET("/api/views"), 200);
    assert.equal(calls, 2);
  });

  it("gets a typed 401 problem without a token", async () => {
    const api = createPanelsClient({ baseUrl: serverUrl });
    const { data, error, response } = await api.GET("/api/panels");
    assert.equal(response.status, 401);
    assert.equal(data, undefined);
    assert.ok(isProblem(error));
    assert.equal(error.status, 401);
    assert.equal(response.headers.get("Content-Type")?.split(";")[0], "application/problem+json");
  });

  it("gets a typed 404 problem for a missing panel", async () => {
    const { error, response } = await client().GET("/api/panels/{panelId}", { params: { path: { panelId: 999999999 } } });
    assert.equal(response.status, 404);
    const p: Problem | undefined = error;
    assert.ok(p);
    assert.equal(p.status, 404);
    assert.equal(p.title, "Not Found");
    assert.equal(p.message, p.detail);
    assert.equal(p.requestId, response.headers.get("X-Request-Id"));
  });

  it("gets a 400 problem naming the field for a schema violation", async () => {
    // The types forbid this body; the server must refuse it too.
    const body = { name: "" };
    const { error, response } = await serverClient().POST("/api/panels", { body });
    assert.equal(response.status, 400);
    assert.ok(error?.errors?.some((e) => e.field === "body.name"), JSON.stringify(error));
  });

  it("answers 304 to a matching If-None-Match", async () => {
    const api = client();
    const created = await api.POST("/api/panels", { body: { name: unique("etag") } });
    const panel = must(created, 201);
    const etag = created.response.headers.get("ETag");
    assert.ok(etag);
    const again = await api.GET("/api/panels/{panelId}", {
      params: { path: { panelId: panel.id }, header: { "If-None-Match": etag } },
    });
    assert.equal(again.response.status, 304);
    assert.equal(again.data, undefined);
    must(await api.DELETE("/api/panels/{panelId}", { params: { path: { panelId: panel.id } } }), 204);
  });
});
