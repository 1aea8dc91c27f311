// The Panels API client: openapi-fetch over the types generated from openapi/openapi.yaml.
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

type Schemas = components["schemas"];
export type Panel = Schemas["Panel"];
export type PanelCreate = Schemas["PanelCreate"];
export type PanelUpdate = Schemas["PanelUpdate"];
export type DataSource = Schemas["DataSource"];
export type Column = Schemas["Column"];
export type ColumnList = Schemas["ColumnList"];
export type View = Schemas["View"];
export type ViewSort = Schemas["ViewSort"];
export type ViewFilter = Schemas["ViewFilter"];
export type Acl = Schemas["Acl"];
export type Permission = Schemas["Permission"];
/** An RFC 9457 problem: the body of every error answer. */
export type Problem = Schemas["Problem"];

export type PanelsClient = Client<paths>;

export interface PanelsClientOptions {
  /** The service's origin, e.g. `http://localhost:3001` (the spec's paths start with `/api`). */
  baseUrl: string;
  /** A bearer JWT, or a function returning the current one (called on every request). */
  token?: string | (() => string | Promise<string>);
  /** A fetch implementation (tests, proxies); defaults to the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Headers sent on every request. */
  headers?: Record<string, string>;
}

/**
 * createPanelsClient returns a typed client. Every call resolves to `{ data, error, response }`:
 * `data` on 2xx, `error` (a {@link Problem}) on 4xx/5xx. Branch on `response.status` when a call can
 * answer 304, whose body is empty.
 */
export function createPanelsClient(options: PanelsClientOptions): PanelsClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    headers: options.headers,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const { token } = options;
  if (token !== undefined) {
    const auth: Middleware = {
      async onRequest({ request }) {
        const value = typeof token === "function" ? await token() : token;
        request.headers.set("Authorization", `Bearer ${value}`);
        return request;
      },
    };
    client.use(auth);
  }
  return client;
}

/** isProblem tells whether an error value is a problem+json body. */
export function isProblem(value: unknown): value is Problem {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Problem).status === "number" &&
    typeof (value as Problem).title === "string"
  );
}

export { followEvents, EventStreamError, type FollowEventsOptions, type StreamEvent } from "./events.js";
