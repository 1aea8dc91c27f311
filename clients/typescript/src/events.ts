// A follower of GET /api/events (Server-Sent Events) over fetch streaming, since Node 20 has no
// EventSource. It reconnects with Last-Event-ID, so that a dropped connection loses nothing.
import type { components } from "./schema.js";

type Schemas = components["schemas"];

/** One event of the stream, typed by its `event` field. */
export type StreamEvent =
  | { event: Schemas["ChangeType"]; id: string; data: Schemas["PanelChange"] }
  | { event: "notification"; id: string; data: Schemas["ViewNotification"] }
  | { event: "reset"; id?: undefined; data: Schemas["StreamResetEvent"] }
  | { event: "shutdown"; id?: undefined; data: Schemas["StreamShutdownEvent"] };

export interface FollowEventsOptions {
  /** The service's origin, e.g. `http://localhost:3001`. */
  baseUrl: string;
  /** A bearer JWT, or a function returning the current one (called on every connection). */
  token: string | (() => string | Promise<string>);
  panelId?: number[];
  types?: Schemas["StreamEventType"][];
  /** Where the first connection resumes; later ones resume from the last event received. */
  lastEventId?: string;
  /** Ends the stream (the generator returns). */
  signal?: AbortSignal;
  fetch?: typeof globalThis.fetch;
  /** Wait before reconnecting until the server sends its own `retry:` (default 2000 ms). */
  retryMs?: number;
}

/** A refusal that reconnecting cannot fix (400, 401, 403), with the problem body. */
export class EventStreamError extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`GET /api/events: ${status} ${body}`);
  }
}

/**
 * followEvents yields every event of the stream, reconnecting after a dropped connection, an
 * expired token, a shut-down instance, 429 or 5xx, until `signal` aborts. It throws
 * {@link EventStreamError} when the server refuses the request for good.
 */
export async function* followEvents(options: FollowEventsOptions): AsyncGenerator<StreamEvent, void, undefined> {
  const f = options.fetch ?? globalThis.fetch;
  let last = options.lastEventId;
  let retryMs = options.retryMs ?? 2000;
  const signal = options.signal;
  while (!signal?.aborted) {
    const url = new URL("/api/events", options.baseUrl.replace(/\/+$/, "") + "/");
    for (const p of options.panelId ?? []) url.searchParams.append("panelId", String(p));
    for (const t of options.types ?? []) url.searchParams.append("types", t);
    const token = typeof options.token === "function" ? await options.token() : options.token;
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
    if (last !== undefined) headers["Last-Event-ID"] = last;
    let response: Response;
    try {
      response = await f(url, { headers, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (signal?.aborted) return;
      await sleep(retryMs, signal);
      continue;
    }
    if (response.status !== 200 || !response.body) {
      const body = await response.text();
      if (response.status === 429 || response.status >= 500) {
        await sleep(retryMs, signal);
        continue;
      }
      throw new EventStreamError(response.status, body);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let frame: { id?: string; event?: string; data: string[] } = { data: [] };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let nl: number;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          let line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.endsWith("\r")) line = line.slice(0, -1);
          if (line === "") {
            if (frame.event !== undefined) {
              if (frame.id !== undefined) last = frame.id;
              yield { event: frame.event, id: frame.id, data: JSON.parse(frame.data.join("\n")) } as StreamEvent;
            }
            frame = { data: [] };
            continue;
          }
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value.startsWith(" ")) value = value.slice(1);
          if (field === "id") frame.id = value;
          else if (field === "event") frame.event = value;
          else if (field === "data") frame.data.push(value);
          else if (field === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
    } finally {
      reader.releaseLock();
    }
    await sleep(retryMs, signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}
