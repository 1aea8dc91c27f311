// Three calls through the client @hey-api/openapi-ts generates from the spec, against the live
// server tools/scripts/with-live-server started: a create, an upload and a CSV export. A spec that
// only openapi-typescript and oapi-codegen read correctly fails here.
import { client } from "./gen/client.gen";
import { createDataSource, createPanel, getPanelRowsCsv, uploadDataSourceFile } from "./gen/sdk.gen";

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run under tools/scripts/with-live-server`);
  return v;
}

function check(ok: boolean, what: string, detail: unknown): void {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(detail)}`);
  console.log(`hey-api: ${what}: ok`);
}

async function main(): Promise<void> {
  client.setConfig({ baseUrl: env("PANELS_URL"), auth: () => env("PANELS_TOKEN") });

  const panel = await createPanel({ body: { name: `hey-api ${process.pid}` } });
  check(panel.response.status === 201 && panel.data !== undefined, "createPanel answers 201", panel.error);
  const panelId = panel.data!.id;

  const source = await createDataSource({ path: { panelId }, body: { type: "file", config: { format: "csv", keyField: "id" } } });
  check(source.response.status === 201 && source.data !== undefined, "createDataSource answers 201", source.error);

  // The spec lists the upload's media types one by one; the generated client sends the first JSON
  // one (application/json) unless the call names the file's type, as this CSV upload does.
  const upload = await uploadDataSourceFile({
    path: { dataSourceId: source.data!.id },
    body: new Blob(["id,name,age\np1,Ada Lovelace,36\np2,Grace Hopper,85\n"], { type: "text/csv" }),
    headers: { "Content-Type": "text/csv" },
  });
  check(upload.response.status === 200 && upload.data?.syncStatus === "success" && upload.data.recordsProcessed === 2,
    "uploadDataSourceFile (text/csv) syncs 2 records", upload.data ?? upload.error);
  const jsonUpload = await uploadDataSourceFile({
    path: { dataSourceId: source.data!.id },
    body: new Blob([JSON.stringify([{ id: "p3", name: "Katherine Johnson", age: 101 }])]),
  });
  check(jsonUpload.response.status === 200 && jsonUpload.data?.syncStatus === "success" && jsonUpload.data.recordsProcessed === 1,
    "uploadDataSourceFile (the client's default Content-Type) syncs 1 record", jsonUpload.data ?? jsonUpload.error);

  // rows.csv is typed as CSV text by the spec, so the generated client needs no parseAs override
  // (getPanelRows?format=csv, the deprecated alias, is typed as the JSON page).
  const rows = await getPanelRowsCsv({ path: { panelId } });
  const csv: string = rows.data ?? "";
  check(rows.response.status === 200 && rows.response.headers.get("Content-Type")?.startsWith("text/csv") === true && csv.split("\n").length >= 3,
    "getPanelRowsCSV (rows.csv) exports the rows as CSV", { status: rows.response.status, csv });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
