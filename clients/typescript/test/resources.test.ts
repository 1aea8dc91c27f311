// Create, list, get, update and delete of every resource family the web UI uses, through the
// generated types: a call that compiles here is a call the spec allows.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { Column, DataSource, Panel, View } from "../src/index.js";
import { callerEmail, client, must, unique } from "./helpers.js";

const api = client();

describe("panels", () => {
  let panel: Panel;

  it("creates a panel", async () => {
    const name = unique("Diabetes follow-up");
    const r = await api.POST("/api/panels", {
      body: { name, description: "HbA1c due", metadata: { color: "blue" } },
    });
    panel = must(r, 201);
    assert.equal(panel.name, name);
    assert.equal(panel.description, "HbA1c due");
    assert.deepEqual(panel.metadata, { color: "blue" });
    assert.deepEqual(panel.cohortRule, { conditions: [], logic: "AND" });
    assert.equal(r.response.headers.get("Location"), `/api/panels/${panel.id}`);
  });

  it("lists it", async () => {
    const list = must(await api.GET("/api/panels"), 200);
    assert.ok(list.some((p) => p.id === panel.id));
  });

  it("pages with limit and the Link header", async () => {
    const second = must(await api.POST("/api/panels", { body: { name: unique("second") } }), 201);
    const page = await api.GET("/api/panels", { params: { query: { limit: 1 } } });
    assert.equal(must(page, 200).length, 1);
    assert.match(page.response.headers.get("Link") ?? "", /rel="next"/);
    must(await api.DELETE("/api/panels/{panelId}", { params: { path: { panelId: second.id } } }), 204);
  });

  it("gets it", async () => {
    const got = must(await api.GET("/api/panels/{panelId}", { params: { path: { panelId: panel.id } } }), 200);
    assert.deepEqual(got, panel);
  });

  it("updates it", async () => {
    const updated = must(
      await api.PUT("/api/panels/{panelId}", {
        params: { path: { panelId: panel.id } },
        body: {
          name: "Renamed",
          description: null,
          cohortRule: { logic: "OR", conditions: [{ field: "age", operator: "gte", value: 65 }] },
        },
      }),
      200,
    );
    assert.equal(updated.name, "Renamed");
    assert.equal(updated.description, null);
    assert.equal(updated.cohortRule.logic, "OR");
    assert.deepEqual(updated.metadata, { color: "blue" }, "fields left out keep their values");
  });

  it("refuses a stale If-Match with a typed 412", async () => {
    const r = await api.PUT("/api/panels/{panelId}", {
      params: { path: { panelId: panel.id }, header: { "If-Match": '"stale"' } },
      body: { name: "never" },
    });
    assert.equal(r.response.status, 412);
    assert.equal(r.error?.status, 412);
  });

  it("deletes it", async () => {
    must(await api.DELETE("/api/panels/{panelId}", { params: { path: { panelId: panel.id } } }), 204);
    const r = await api.GET("/api/panels/{panelId}", { params: { path: { panelId: panel.id } } });
    assert.equal(r.response.status, 404);
    assert.equal(r.error?.status, 404);
  });
});

describe("columns", () => {
  let panel: Panel;
  let source: DataSource;
  let base: Column;
  let calc: Column;

  before(async () => {
    panel = must(await api.POST("/api/panels", { body: { name: unique("columns") } }), 201);
    source = must(
      await api.POST("/api/panels/{panelId}/datasources", {
        params: { path: { panelId: panel.id } },
        body: { type: "api", config: { endpoint: "/api/patients", method: "GET" } },
      }),
      201,
    );
  });
  after(async () => {
    await api.DELETE("/api/panels/{panelId}", { params: { path: { panelId: panel.id } } });
  });

  it("creates a base column", async () => {
    base = must(
      await api.POST("/api/panels/{panelId}/columns/base", {
        params: { path: { panelId: panel.id } },
        body: {
          name: "Email Address",
          type: "text",
          sourceField: "email",
          dataSourceId: source.id,
          properties: { required: true, display: { visible: true, order: 1 } },
          tags: ["contact"],
        },
      }),
      201,
    );
    assert.equal(base.columnType, "base");
    assert.equal(base.dataSourceId, source.id);
    assert.deepEqual(base.tags, ["contact"]);
  });

  it("creates a calculated column", async () => {
    calc = must(
      await api.POST("/api/panels/{panelId}/columns/calculated", {
        params: { path: { panelId: panel.id } },
        body: { name: "Shout", type: "text", formula: "UPPER([Email Address])", properties: {} },
      }),
      201,
    );
    assert.equal(calc.columnType, "calculated");
    assert.deepEqual(calc.dependencies, ["Email Address"]);
  });

  it("refuses an unknown reference with a typed 422 naming it", async () => {
    const r = await api.POST("/api/panels/{panelId}/columns/calculated", {
      params: { path: { panelId: panel.id } },
      body: { name: "Broken", type: "text", formula: "UPPER([No Such Column])", properties: {} },
    });
    assert.equal(r.response.status, 422);
    assert.equal(r.error?.status, 422);
    assert.ok((r.error?.errors ?? []).length > 0, JSON.stringify(r.error));
    assert.match(JSON.stringify(r.error?.errors), /No Such Column/);
  });

  it("lists them, filtered by tag", async () => {
    const all = must(await api.GET("/api/panels/{panelId}/columns", { params: { path: { panelId: panel.id } } }), 200);
    assert.deepEqual(all.baseColumns.map((c) => c.id), [base.id]);
    assert.deepEqual(all.calculatedColumns.map((c) => c.id), [calc.id]);
    const tagged = must(
      await api.GET("/api/panels/{panelId}/columns", { params: { path: { panelId: panel.id }, query: { tags: ["contact"] } } }),
      200,
    );
    assert.deepEqual(tagged.baseColumns.map((c) => c.id), [base.id]);
    assert.equal(tagged.calculatedColumns.length, 0);
  });

  it("gets one", async () => {
    const got = must(
      await api.GET("/api/panels/{panelId}/columns/{columnId}", { params: { path: { panelId: panel.id, columnId: base.id } } }),
      200,
    );
    assert.equal(got.name, "Email Address");
  });

  it("renames one, and the formula follows", async () => {
    const renamed = must(
      await api.PUT("/api/panels/{panelId}/columns/{columnId}", {
        params: { path: { panelId: panel.id, columnId: base.id } },
        body: { id: String(base.id), name: "Patient Email" },
      }),
      200,
    );
    assert.equal(renamed.name, "Patient Email");
    const dependent = must(
      await api.GET("/api/panels/{panelId}/columns/{columnId}", { params: { path: { panelId: panel.id, columnId: calc.id } } }),
      200,
    );
    assert.equal(dependent.formula, "UPPER([Patient Email])");
  });

  it("refuses to delete a column others depend on (409), then deletes with force", async () => {
    const path = { panelId: panel.id, columnId: base.id };
    const refused = await api.DELETE("/api/panels/{panelId}/columns/{columnId}", { params: { path } });
    assert.equal(refused.response.status, 409);
    assert.deepEqual(refused.error?.dependents?.map((d) => d.id), [calc.id]);
    must(await api.DELETE("/api/panels/{panelId}/columns/{columnId}", { params: { path, query: { force: true } } }), 204);
    const left = must(await api.GET("/api/panels/{panelId}/columns", { params: { path: { panelId: panel.id } } }), 200);
    assert.equal(left.baseColumns.length + left.calculatedColumns.length, 0);
  });
});

describe("views, sorts and filters", () => {
  let panel: Panel;
  let column: Column;
  let view: View;

  before(async () => {
    panel = must(await api.POST("/api/panels", { body: { name: unique("views") } }), 201);
    const source = must(
      await api.POST("/api/panels/{panelId}/datasources", {
        params: { path: { panelId: panel.id } },
        body: { type: "custom", config: {} },
      }),
      201,
    );
    column = must(
      await api.POST("/api/panels/{panelId}/columns/base", {
        params: { path: { panelId: panel.id } },
        body: { name: "Status", type: "text", sourceField: "status", dataSourceId: source.id, properties: {} },
      }),
      201,
    );
  });
  after(async () => {
    await api.DELETE("/api/panels/{panelId}", { params: { path: { panelId: panel.id } } });
  });

  it("creates a view", async () => {
    view = must(
      await api.POST("/api/views", {
        body: { name: "My worklist", panelId: panel.id, visibleColumns: [String(column.id)], metadata: { density: "compact" } },
      }),
      201,
    );
    assert.equal(view.panelId, panel.id);
    assert.deepEqual(view.visibleColumns, [String(column.id)]);
    assert.equal(view.isPublished, false);
  });

  it("refuses an unknown visible column with a typed 422", async () => {
    const r = await api.POST("/api/views", { body: { name: "Broken", panelId: panel.id, visibleColumns: ["No Such Column"] } });
    assert.equal(r.response.status, 422);
    assert.equal(r.error?.status, 422);
    assert.match(JSON.stringify(r.error), /No Such Column/);
  });

  it("lists it", async () => {
    const list = must(await api.GET("/api/views", { params: { query: { panelId: panel.id } } }), 200);
    assert.deepEqual(list.views.map((v) => v.id), [view.id]);
    assert.equal(list.total, 1);
  });

  it("gets and updates it", async () => {
    must(await api.GET("/api/views/{viewId}", { params: { path: { viewId: view.id } } }), 200);
    const updated = must(
      await api.PUT("/api/views/{viewId}", {
        params: { path: { viewId: view.id } },
        body: { id: view.id, name: "Due this week", visibleColumns: ["Status"] },
      }),
      200,
    );
    assert.equal(updated.name, "Due this week");
    assert.deepEqual(updated.visibleColumns, ["Status"]);
  });

  it("replaces and reads its sorts", async () => {
    const put = must(
      await api.PUT("/api/views/{viewId}/sorts", {
        params: { path: { viewId: view.id } },
        body: { sorts: [{ columnName: "Status", direction: "desc", order: 1 }] },
      }),
      200,
    );
    assert.deepEqual(put.sorts.map((s) => [s.columnName, s.direction, s.order]), [["Status", "desc", 1]]);
    const got = must(await api.GET("/api/views/{viewId}/sorts", { params: { path: { viewId: view.id } } }), 200);
    assert.deepEqual(got, put);
    must(await api.PUT("/api/views/{viewId}/sorts", { params: { path: { viewId: view.id } }, body: { sorts: [] } }), 200);
    const cleared = must(await api.GET("/api/views/{viewId}/sorts", { params: { path: { viewId: view.id } } }), 200);
    assert.equal(cleared.sorts.length, 0);
  });

  it("replaces and reads its filters", async () => {
    const put = must(
      await api.PUT("/api/views/{viewId}/filters", {
        params: { path: { viewId: view.id } },
        body: {
          filters: [
            { columnName: "Status", operator: "in", value: ["active", "pending"] },
            { columnName: String(column.id), operator: "isNotNull", logicalOperator: "and" },
          ],
        },
      }),
      200,
    );
    assert.deepEqual(put.filters.map((f) => f.operator), ["in", "isNotNull"]);
    const got = must(await api.GET("/api/views/{viewId}/filters", { params: { path: { viewId: view.id } } }), 200);
    assert.deepEqual(got, put);
    const wrong = await api.PUT("/api/views/{viewId}/filters", {
      params: { path: { viewId: view.id } },
      body: { filters: [{ columnName: "Status", operator: "between", value: 1 }] },
    });
    assert.equal(wrong.response.status, 422, "between needs two values");
  });

  it("publishes and unpublishes it", async () => {
    const published = must(await api.POST("/api/views/{viewId}/publish", { params: { path: { viewId: view.id } } }), 200);
    assert.equal(published.isPublished, true);
    assert.ok(published.publishedAt);
    const unpublished = must(await api.POST("/api/views/{viewId}/unpublish", { params: { path: { viewId: view.id } } }), 200);
    assert.equal(unpublished.isPublished, false);
    assert.equal(unpublished.publishedAt, null);
  });

  it("deletes it", async () => {
    must(await api.DELETE("/api/views/{viewId}", { params: { path: { viewId: view.id } } }), 204);
    const r = await api.GET("/api/views/{viewId}", { params: { path: { viewId: view.id } } });
    assert.equal(r.response.status, 404);
  });
});

describe("ACLs", () => {
  let panel: Panel;
  const nurse = "nurse@clinic.example";

  before(async () => {
    panel = must(await api.POST("/api/panels", { body: { name: unique("acls") } }), 201);
  });
  after(async () => {
    await api.DELETE("/api/panels/{panelId}", { params: { path: { panelId: panel.id } } });
  });

  const path = () => ({ resourceType: "panel" as const, resourceId: panel.id });

  it("lists the creator's owner row", async () => {
    const list = must(await api.GET("/api/acls/{resourceType}/{resourceId}", { params: { path: path() } }), 200);
    assert.deepEqual(list.acls.map((a) => [a.userEmail, a.permission]), [[callerEmail, "owner"]]);
  });

  it("grants a permission", async () => {
    const created = must(
      await api.POST("/api/acls/{resourceType}/{resourceId}", {
        params: { path: path() },
        body: { userEmail: nurse, permission: "editor" },
      }),
      201,
    );
    assert.equal(created.acl.userEmail, nurse);
    assert.equal(created.acl.permission, "editor");
    assert.equal(created.acl.resourceId, panel.id);
  });

  it("refuses a duplicate grant with a typed 409", async () => {
    const r = await api.POST("/api/acls/{resourceType}/{resourceId}", {
      params: { path: path() },
      body: { userEmail: nurse, permission: "viewer" },
    });
    assert.equal(r.response.status, 409);
    assert.equal(r.error?.status, 409);
  });

  it("changes it", async () => {
    const updated = must(
      await api.PUT("/api/acls/{resourceType}/{resourceId}/{userEmail}", {
        params: { path: { ...path(), userEmail: nurse } },
        body: { permission: "viewer" },
      }),
      200,
    );
    assert.equal(updated.acl.permission, "viewer");
  });

  it("shares with the whole tenant", async () => {
    const created = must(
      await api.POST("/api/acls/{resourceType}/{resourceId}/share-public", { params: { path: path() }, body: { permission: "viewer" } }),
      201,
    );
    assert.equal(created.acl.userEmail, "_all");
    const updated = must(
      await api.POST("/api/acls/{resourceType}/{resourceId}/share-public", { params: { path: path() }, body: { permission: "editor" } }),
      200,
    );
    assert.equal(updated.acl.permission, "editor");
  });

  it("lists the caller's own rows", async () => {
    const mine = must(
      await api.GET("/api/acls/user/{userEmail}", { params: { path: { userEmail: callerEmail }, query: { resourceType: "panel" } } }),
      200,
    );
    const here = mine.acls.filter((a) => a.resourceId === panel.id).map((a) => a.userEmail).sort();
    assert.deepEqual(here, ["_all", callerEmail].sort());
  });

  it("revokes it", async () => {
    must(
      await api.DELETE("/api/acls/{resourceType}/{resourceId}/{userEmail}", { params: { path: { ...path(), userEmail: nurse } } }),
      204,
    );
    const list = must(await api.GET("/api/acls/{resourceType}/{resourceId}", { params: { path: path() } }), 200);
    assert.ok(!list.acls.some((a) => a.userEmail === nurse));
  });

  it("never removes the last owner (409)", async () => {
    const r = await api.DELETE("/api/acls/{resourceType}/{resourceId}/{userEmail}", {
      params: { path: { ...path(), userEmail: callerEmail } },
    });
    assert.equal(r.response.status, 409);
    assert.equal(r.error?.status, 409);
  });

  it("answers a typed 404 for a resource that does not exist", async () => {
    const r = await api.GET("/api/acls/{resourceType}/{resourceId}", { params: { path: { resourceType: "view", resourceId: 999999999 } } });
    assert.equal(r.response.status, 404);
    assert.equal(r.error?.title, "Not Found");
  });
});
