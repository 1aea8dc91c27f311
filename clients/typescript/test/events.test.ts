import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { followEvents } from "../src/index.js";
import { client, must, serverUrl, token, unique } from "./helpers.js";

describe("followEvents", () => {
  // The stream goes to the server itself: a validating proxy answers only once a body is whole.
  it("reconnects with Last-Event-ID and misses nothing written while it was away", async () => {
    const api = client();
    const controller = new AbortController();
    const away = [unique("away"), unique("away")];
    let connections = 0;
    const resumedFrom: (string | null)[] = [];
    // The first connection is dropped right after its first event, as a network would drop it.
    const cutting: typeof fetch = async (input, init) => {
      connections++;
      resumedFrom.push(new Headers(init?.headers).get("Last-Event-ID"));
      const response = await fetch(input, init);
      if (connections > 1 || !response.body) return response;
      let seen = "";
      const cut = response.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          seen += new TextDecoder().decode(chunk);
          ctl.enqueue(chunk);
          if (/\nid: .*\n(.*\n)*\n/.test(seen)) ctl.error(new Error("connection dropped"));
        },
      }));
      return new Response(cut, { status: response.status, headers: response.headers });
    };
    const names: string[] = [];
    const ids: number[] = [];
    let first = true;
    const writer = setInterval(() => {
      if (first) void api.POST("/api/panels", { body: { name: "first" } });
    }, 100);
    try {
      for await (const ev of followEvents({ baseUrl: serverUrl, token, types: ["panel_created"], fetch: cutting, retryMs: 10,
        signal: controller.signal })) {
        assert.equal(ev.event, "panel_created");
        if (ev.event !== "panel_created") continue;
        ids.push(Number(ev.id));
        if (first) {
          first = false;
          for (const name of away) must(await api.POST("/api/panels", { body: { name } }), 201);
          continue;
        }
        if (ev.data.panelName !== "first") names.push(ev.data.panelName);
        if (names.length === away.length) break;
      }
    } finally {
      clearInterval(writer);
      controller.abort();
    }
    assert.deepEqual(names, away);
    assert.deepEqual([...ids].sort((a, b) => a - b), ids);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(connections >= 2);
    assert.equal(resumedFrom[1], String(ids[0]));
  });
});
