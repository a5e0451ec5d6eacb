/**
 * Better Auth's outcomes as audit events (see audit.ts). What better-auth 1.7.25 offers, and what
 * each piece here relies on:
 *
 * - `hooks.after` runs after every endpoint, with `ctx.context.returned` holding either the
 *   endpoint's result or the `APIError` it threw: success and failure of sign-in and sign-up,
 *   and the new session's user (`ctx.context.newSession`).
 * - `databaseHooks.session.delete.after` receives the deleted session row and the endpoint
 *   context: sign-out (path `/sign-out`) with its user, and every other way a session ends.
 * - The rate limiter answers 429 in the router's `onRequest`, before any hook or plugin runs,
 *   and the origin check refuses in a router middleware, also outside the hooks. Only the HTTP
 *   handler sees those responses, so `auditedAuthHandler` wraps it: it gives each request its id,
 *   logs every 429, and logs a refused sign-in, sign-up or sign-out that no hook reported.
 */

import { createAuthMiddleware, isAPIError } from "better-auth/api";

import {
  audit,
  eventsWritten,
  noted,
  noteSessionEnded,
  requestIdFrom,
  withRequestId,
  type AuditEvent,
} from "@/lib/server/audit";

const AUTH_BASE_PATH = "/api/auth";
const ERROR_CODE = /^[A-Z0-9_]{1,64}$/;

/**
 * The endpoints whose outcome is a security event, by Better Auth path: each request to one of
 * them is one event. Sessions it ends are counted into that event (`sessions_ended`), not
 * reported one by one.
 */
const OUTCOMES: Record<string, { ok: AuditEvent; failed: AuditEvent }> = {
  "/sign-in/email": { ok: "auth.sign_in", failed: "auth.sign_in_failed" },
  "/sign-up/email": { ok: "auth.sign_up", failed: "auth.sign_up_failed" },
  "/sign-out": { ok: "auth.sign_out", failed: "auth.sign_out_failed" },
  "/revoke-session": { ok: "session.revoked", failed: "session.revoke_failed" },
  "/revoke-other-sessions": { ok: "sessions.revoked_others", failed: "sessions.revoke_others_failed" },
  "/change-password": { ok: "password.changed", failed: "password.change_failed" },
  "/request-password-reset": { ok: "password.reset_requested", failed: "password.reset_requested" },
  "/reset-password": { ok: "password.reset", failed: "password.reset_failed" },
  "/delete-user": { ok: "account.deleted", failed: "account.delete_failed" },
};

/** A Better Auth error code as a lowercase reason (`INVALID_EMAIL_OR_PASSWORD` → `invalid_email_or_password`). */
function reasonFromCode(code: unknown, status: number): string {
  return typeof code === "string" && ERROR_CODE.test(code) ? code.toLowerCase() : `http_${status}`;
}

function userIdOf(returned: unknown): string | null {
  if (typeof returned !== "object" || returned === null || !("user" in returned)) return null;
  const { user } = returned;
  if (typeof user !== "object" || user === null || !("id" in user)) return null;
  return typeof user.id === "string" ? user.id : null;
}

/** `hooks.after`: sign-in and sign-up, succeeded or failed. Sign-out is reported by the session hook below. */
export const auditAuthOutcome = createAuthMiddleware(async (ctx) => {
  const outcome = OUTCOMES[ctx.path];
  if (!outcome || ctx.path === "/sign-out") return;
  const returned: unknown = ctx.context.returned;
  if (isAPIError(returned)) {
    const sub = ctx.context.session?.user.id ?? null; // for the account actions, the person signed in
    audit(outcome.failed, { reason: reasonFromCode(returned.body?.code, returned.statusCode), sub, route: ctx.path, status: returned.statusCode });
    return;
  }
  // An endpoint without a session (a reset, a sign-up with a taken address) noted its user itself:
  // a sign-up's answer then names a made-up user, never the real one.
  const { subject, sessionsEnded } = noted();
  const sub = subject?.sub ?? ctx.context.session?.user.id ?? ctx.context.newSession?.user.id ?? userIdOf(returned);
  const reason = subject?.reason ?? (ctx.path === "/request-password-reset" ? "no_account" : "ok");
  audit(outcome.ok, { reason, sub, route: ctx.path, status: 200, ...(sessionsEnded > 0 ? { sessions_ended: sessionsEnded } : {}) });
});

interface EndedSession {
  userId: string;
  expiresAt: Date;
}

/** `databaseHooks.session.delete.after`: sign-out, an account action that ends sessions, or an expired session cleared. */
export function auditSessionEnded(session: EndedSession, path: string | undefined): void {
  const sub = session.userId;
  if (path === "/sign-out") {
    audit("auth.sign_out", { reason: "ok", sub, route: path, status: 200 });
  } else if (path !== undefined && path in OUTCOMES) {
    noteSessionEnded(); // reported in that endpoint's one event
  } else {
    const reason = session.expiresAt.getTime() <= Date.now() ? "expired" : "removed";
    audit("auth.session_ended", { reason, sub, route: path ?? null });
  }
}

/** The Better Auth path of a request to the catch-all route: `/api/auth/sign-in/email` → `/sign-in/email`. */
function authPath(request: Request): string {
  const { pathname } = new URL(request.url);
  return pathname.startsWith(`${AUTH_BASE_PATH}/`) ? pathname.slice(AUTH_BASE_PATH.length) : pathname;
}

async function errorCode(response: Response): Promise<unknown> {
  if (!response.headers.get("content-type")?.includes("application/json")) return undefined;
  try {
    const body: unknown = await response.clone().json();
    return typeof body === "object" && body !== null && "code" in body ? body.code : undefined;
  } catch {
    return undefined;
  }
}

/** What no hook saw: every 429, and a refused sign-in, sign-up or sign-out with no event of its own. */
async function auditUnhooked(request: Request, response: Response): Promise<void> {
  const path = authPath(request);
  if (response.status === 429) {
    const retryAfter = Number(response.headers.get("x-retry-after"));
    audit(
      "auth.rate_limited",
      { reason: "too_many_requests", route: path, status: 429, retry_after: Number.isFinite(retryAfter) ? retryAfter : null },
      "warning",
    );
    return;
  }
  const outcome = OUTCOMES[path];
  if (outcome && request.method === "POST" && response.status >= 400 && eventsWritten() === 0) {
    audit(outcome.failed, { reason: reasonFromCode(await errorCode(response), response.status), route: path, status: response.status });
  }
}

/** Wraps Better Auth's Next.js handler: a request id per request (echoed as `X-Request-ID`) and the events above. */
export function auditedAuthHandler(handler: (request: Request) => Promise<Response>): (request: Request) => Promise<Response> {
  return (request) =>
    withRequestId(requestIdFrom(request.headers), async ({ requestId }) => {
      const response = await handler(request);
      await auditUnhooked(request, response);
      const headers = new Headers(response.headers);
      headers.set("X-Request-ID", requestId);
      return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
    });
}
