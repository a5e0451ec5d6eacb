/**
 * The web app's audit trail: one JSON object per line for each security event, on stdout and,
 * when `AUDIT_LOG` names a file, appended to it (the API writes the same shape, DESIGN.md §4).
 *
 * Each event carries the UTC time, the request id (the one the proxy sends FastAPI as
 * `X-Request-ID`), the event, a reason code and, when known, the user id as `sub`. Values are
 * JSON-encoded with every character outside printable ASCII escaped, so no CR, LF or Unicode line
 * separator in a value can start a line of its own. Callers pass codes and ids only: never a
 * password, an email address, a cookie or a token.
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { openSync, writeSync } from "node:fs";

export type AuditEvent =
  | "auth.sign_up"
  | "auth.sign_up_failed"
  | "auth.sign_in"
  | "auth.sign_in_failed"
  | "auth.sign_out"
  | "auth.sign_out_failed"
  | "auth.session_ended"
  | "session.revoked"
  | "session.revoke_failed"
  | "sessions.revoked_others"
  | "sessions.revoke_others_failed"
  | "password.changed"
  | "password.change_failed"
  | "password.reset_requested"
  | "password.reset"
  | "password.reset_failed"
  | "email.verification_sent"
  | "email.verified"
  | "account.deleted"
  | "account.delete_failed"
  | "auth.rate_limited"
  | "proxy.csrf_refused"
  | "proxy.duplicate_session_cookie"
  | "proxy.auth_unavailable"
  | "proxy.upstream_unavailable";

type Value = string | number | boolean | null;

export interface AuditFields {
  reason: string;
  /** The user id, when the event is about a known user. */
  sub?: string | null;
  /** The route, as a template or an auth path (`/sign-in/email`); never a query string. */
  route?: string | null;
  status?: number;
  [extra: string]: Value | undefined;
}

interface RequestContext {
  requestId: string;
  /** How many audit events this request has written so far. */
  events: number;
  /** The user an endpoint acted on when no session says so (a reset), and why (noteSubject). */
  subject: { sub: string; reason: string } | null;
  /** How many sessions this request ended. */
  sessionsEnded: number;
}

interface State {
  requests: AsyncLocalStorage<RequestContext>;
  /** The AUDIT_LOG file descriptor; undefined until first used, null when unset or unusable. */
  file: number | null | undefined;
}

/**
 * The API's own rule for an incoming `X-Request-ID` (backend `RequestContext`): an id it would
 * refuse is replaced there, and the trail from this app to the API would break.
 */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_VALUE_LENGTH = 256;
const STATE_KEY = Symbol.for("tandem.frontend.audit");

/** One instance per process, shared by every route bundle (like the token cache). */
function state(): State {
  const holder = globalThis as typeof globalThis & { [STATE_KEY]?: State };
  holder[STATE_KEY] ??= { requests: new AsyncLocalStorage(), file: undefined };
  return holder[STATE_KEY];
}

/** A well-formed incoming `X-Request-ID`, or a new one. */
export function requestIdFrom(headers: Headers): string {
  const incoming = headers.get("x-request-id");
  return incoming !== null && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
}

/** Runs `handle` with `requestId` attached to every event it writes, however deep the call. */
export function withRequestId<T>(requestId: string, handle: (context: RequestContext) => Promise<T>): Promise<T> {
  const context: RequestContext = { requestId, events: 0, subject: null, sessionsEnded: 0 };
  return state().requests.run(context, () => handle(context));
}

/** Everything outside printable ASCII as \uXXXX: no raw control or line-separator character survives. */
function encode(record: Record<string, Value>): string {
  return JSON.stringify(record).replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function bounded(value: Value | undefined): Value {
  if (value === undefined) return null;
  return typeof value === "string" && value.length > MAX_VALUE_LENGTH ? `${value.slice(0, MAX_VALUE_LENGTH)}...` : value;
}

function record(logger: string, level: "info" | "warning", event: string, fields: AuditFields): Record<string, Value> {
  const context = state().requests.getStore();
  const entry: Record<string, Value> = {
    // The API's format: ISO 8601 in UTC with an explicit offset.
    time: new Date().toISOString().replace("Z", "+00:00"),
    level,
    logger,
    event,
    request_id: context?.requestId ?? null,
  };
  for (const [name, value] of Object.entries(fields)) entry[name] = bounded(value);
  entry.sub ??= null;
  return entry;
}

function auditFile(current: State): number | null {
  if (current.file !== undefined) return current.file;
  const path = process.env.AUDIT_LOG?.trim();
  current.file = null;
  if (path) {
    try {
      // O_APPEND: each line lands whole at the end, even with several processes on one file.
      current.file = openSync(path, "a", 0o640);
    } catch (error) {
      console.error(`audit: cannot open AUDIT_LOG (${error instanceof Error ? error.message : "unknown error"}); events go to stdout only`);
    }
  }
  return current.file;
}

/** A security event: stdout, and the AUDIT_LOG file when set. */
export function audit(event: AuditEvent, fields: AuditFields, level: "info" | "warning" = "info"): void {
  const current = state();
  const context = current.requests.getStore();
  if (context) context.events += 1;
  const line = `${encode(record("tandem.web.audit", level, event, fields))}\n`;
  process.stdout.write(line);
  const file = auditFile(current);
  if (file === null) return;
  try {
    // Synchronous: the event is in the file before the response leaves, and a process
    // stopped right after it loses nothing.
    writeSync(file, line);
  } catch (error) {
    console.error(`audit: cannot write AUDIT_LOG (${error instanceof Error ? error.message : "unknown error"})`);
  }
}

/** An operational event (a proxied request): stdout only, in the same format. */
export function logEvent(event: string, fields: AuditFields): void {
  process.stdout.write(`${encode(record("tandem.web", "info", event, fields))}\n`);
}

/** Records, for the request's one audit event, which user it acted on and the reason to report. */
export function noteSubject(sub: string, reason: string): void {
  const context = state().requests.getStore();
  if (context) context.subject = { sub, reason };
}

/** Counts a session the current request ended. */
export function noteSessionEnded(): void {
  const context = state().requests.getStore();
  if (context) context.sessionsEnded += 1;
}

/** What noteSubject and noteSessionEnded recorded for the current request. */
export function noted(): Pick<RequestContext, "subject" | "sessionsEnded"> {
  const context = state().requests.getStore();
  return { subject: context?.subject ?? null, sessionsEnded: context?.sessionsEnded ?? 0 };
}

/** How many audit events the current request has written (0 outside a request). */
export function eventsWritten(): number {
  return state().requests.getStore()?.events ?? 0;
}
