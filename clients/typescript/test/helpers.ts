// Shared set-up for the suites: a client for the live server that tools/scripts/with-live-server started.
import assert from "node:assert/strict";

import { createPanelsClient, type PanelsClient } from "../src/index.js";

function required(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run the tests with 'make test-ts' (it starts a server and mints a token)`);
  }
  return v;
}

export const baseUrl = required("PANELS_URL");
export const token = required("PANELS_TOKEN");
export const callerEmail = required("PANELS_EMAIL");

export function client(): PanelsClient {
  return createPanelsClient({ baseUrl, token });
}

/**
 * serverClient talks to the server itself even when the suite runs through Prism's validation
 * proxy (tools/scripts/with-prism-proxy sets PANELS_UPSTREAM_URL), which refuses a request that
 * breaks the contract before the server sees it: the tests of the server's own refusals use it.
 */
export const serverUrl = process.env.PANELS_UPSTREAM_URL ?? baseUrl;

export function serverClient(): PanelsClient {
  return createPanelsClient({ baseUrl: serverUrl, token });
}

/**
 * must returns the data of a call that answered status, failing the test with the problem
 * otherwise. A 204 has no data.
 */
export function must<T>(r: { data?: T; error?: unknown; response: Response }, status: number): T {
  assert.equal(r.response.status, status, `status ${r.response.status}: ${JSON.stringify(r.error)}`);
  if (status !== 204) {
    assert.ok(r.data !== undefined, "no body");
  }
  return r.data as T;
}

let n = 0;
/** unique returns a name no other test of this run uses. */
export function unique(prefix: string): string {
  n++;
  return `${prefix} ${process.pid}-${n}`;
}
