import { toNextJsHandler } from "better-auth/next-js";

import { auth } from "@/lib/auth";
import { auditedAuthHandler } from "@/lib/server/auth-audit";
import { addTransportSecurity } from "@/lib/server/responses";

const handlers = toNextJsHandler(auth);

type Handler = (request: Request) => Promise<Response>;

/**
 * Each request gets an id and its audit events, including the 429s Better Auth's rate limiter
 * answers before any of its hooks run; on https, every answer carries HSTS.
 */
function route(handler: Handler): Handler {
  const audited = auditedAuthHandler(handler);
  return async (request) => {
    const response = await audited(request);
    addTransportSecurity(response.headers);
    return response;
  };
}

export const GET = route(handlers.GET);
export const POST = route(handlers.POST);
export const PATCH = route(handlers.PATCH);
export const PUT = route(handlers.PUT);
export const DELETE = route(handlers.DELETE);
